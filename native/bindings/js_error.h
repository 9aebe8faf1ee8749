// The one place native failures become JS errors: Error objects with code, syscall and path properties.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>

#include "util/error.h"

namespace casper {

// Runs fn, turning NativeError and any other C++ exception into a thrown JS error.
Napi::Value guarded(Napi::Env env, const std::function<Napi::Value()>& fn);


// Sets message, code, and (when known) path and syscall of err on a JS object.
void set_error_fields(Napi::Object target, const NativeError& err);

// { error: { message, code, path?, syscall? } }: a failure resolved as plain data, the way a pool worker
// reports one (structured cloning would drop an Error's extra fields), so callers handle both alike.
Napi::Object failure_value(Napi::Env env, const NativeError& err);

}  // namespace casper
