#include "bindings/js_error.h"

#include <new>

#include "util/error.h"

namespace casper {

namespace {
Napi::Error make_error(Napi::Env env, const NativeError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  set_error_fields(err.Value(), e);
  return err;
}
}  // namespace

Napi::Value guarded(Napi::Env env, const std::function<Napi::Value()>& fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const NativeError& e) {
    throw make_error(env, e);
  } catch (const std::bad_alloc&) {
    throw make_error(env, NativeError("ENOMEM", "out of memory"));
  } catch (const std::exception& e) {
    throw make_error(env, NativeError("EINTERNAL", std::string("internal error: ") + e.what()));
  }
}

void set_error_fields(Napi::Object target, const NativeError& err) {
  target.Set("message", err.what());
  target.Set("code", err.code);
  if (!err.path.empty()) target.Set("path", printable(err.path));  // bytes any user chose: escaped as in the message
  if (!err.syscall.empty()) target.Set("syscall", err.syscall);
}

Napi::Object failure_value(Napi::Env env, const NativeError& err) {
  Napi::Object e = Napi::Object::New(env);
  set_error_fields(e, err);
  Napi::Object f = Napi::Object::New(env);
  f.Set("error", e);
  return f;
}

}  // namespace casper
