// The JS object of a verify report, shared by verifyImage() and ImageBuilder.verifyWritten() (--verify).
#pragma once
#include <napi.h>

#include <set>
#include <string>
#include <vector>

#include "verify/verifier.h"

namespace casper {

// { ok, problems[], problemsTruncated, differences[], image{…}, counts{…}, digests{ files, bytes } }
Napi::Object verify_report_object(Napi::Env env, const VerifyReport& r);
// The comparer's differences as JS objects; a_key and b_key name the two sides ("image"/"dir", "restored"/"live").
Napi::Array differences_array(Napi::Env env, const std::vector<TreeDifference>& diffs, const char* a_key,
                              const char* b_key);
// A JS array of strings at opts[key] as a set (empty when absent).
std::set<std::string> string_set(const Napi::Object& opts, const char* key);

}  // namespace casper
