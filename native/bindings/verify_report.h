// The JS object of a verify report, shared by verifyImage() and ImageBuilder.verifyWritten() (--verify).
#pragma once
#include <napi.h>

#include "read/verifier.h"

namespace casper {

// { ok, problems[], problemsTruncated, differences[], image{…}, counts{…}, digests{ files, bytes } }
Napi::Object verify_report_object(Napi::Env env, const VerifyReport& r);

}  // namespace casper
