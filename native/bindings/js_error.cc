#include "bindings/js_error.h"

#include <new>

#include "util/error.h"

namespace casper {

namespace {
void set_error_fields(Napi::Object target, const NativeError& err) {
  target.Set("message", err.what());
  target.Set("code", err.code);
  if (!err.path.empty()) target.Set("path", printable(err.path));  // bytes any user chose: escaped as in the message
  if (!err.syscall.empty()) target.Set("syscall", err.syscall);
  if (!err.table.empty()) {
    target.Set("table", err.table);
    target.Set("offset", err.offset == NativeError::kNoOffset
                             ? target.Env().Null()
                             : Napi::Value(Napi::Number::New(target.Env(), double(err.offset))));
  }
}
}  // namespace

Napi::Error js_error(Napi::Env env, const NativeError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  set_error_fields(err.Value(), e);
  return err;
}

Napi::Value guarded(Napi::Env env, const std::function<Napi::Value()>& fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const NativeError& e) {
    throw js_error(env, e);
  } catch (const std::bad_alloc&) {
    throw js_error(env, NativeError("ENOMEM", "out of memory"));
  } catch (const std::exception& e) {
    throw js_error(env, NativeError("EINTERNAL", std::string("internal error: ") + e.what()));
  }
}

}  // namespace casper
