// The one place native failures become JS errors: Error objects with code, syscall and path properties.
#pragma once
#include <napi.h>

#include <functional>

namespace casper {

// Runs fn, turning NativeError and any other C++ exception into a thrown JS error.
Napi::Value guarded(Napi::Env env, const std::function<Napi::Value()>& fn);

}  // namespace casper
