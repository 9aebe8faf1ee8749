// The one place native failures become JS errors: Error objects with code, syscall and path properties.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>

#include "util/error.h"

namespace casper {

// Runs fn, turning NativeError and any other C++ exception into a thrown JS error.
Napi::Value guarded(Napi::Env env, const std::function<Napi::Value()>& fn);

// The JS Error for err: message, code, and (when known) path and syscall; table and offset for a corrupt image.
Napi::Error js_error(Napi::Env env, const NativeError& err);

}  // namespace casper
