// Module entry: the ImageBuilder class, the worker functions, the output lock and version information.
#include <napi.h>

#include "bindings/js_error.h"
#include "bindings/version.h"
#include "compress/compressor.h"
#include "format/constants.h"

namespace casper {

Napi::Function define_image_builder(Napi::Env env);
void define_worker_functions(Napi::Env env, Napi::Object exports);
void define_file_lock(Napi::Env env, Napi::Object exports);
void define_verify(Napi::Env env, Napi::Object exports);
void define_restore_compare(Napi::Env env, Napi::Object exports);

namespace {

// versions() -> { addon, napi, compressors: [{ name, id, library }] }
Napi::Value Versions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("addon", kAddonVersion);
  o.Set("napi", NAPI_VERSION);
  o.Set("defaultBlockSize", kDefaultBlockSize);  // the one default the library reads from here
  auto all = all_compressors();
  Napi::Array a = Napi::Array::New(env, all.size());
  for (size_t i = 0; i < all.size(); i++) {
    Napi::Object c = Napi::Object::New(env);
    c.Set("name", all[i]->name);
    c.Set("id", all[i]->id);
    c.Set("library", all[i]->library_version);
    if (all[i]->default_level >= 0) c.Set("defaultLevel", all[i]->default_level);
    a.Set(uint32_t(i), c);
  }
  o.Set("compressors", a);
  return o;
}


}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("ImageBuilder", define_image_builder(env));
  define_worker_functions(env, exports);
  define_file_lock(env, exports);
  define_verify(env, exports);
  define_restore_compare(env, exports);
  exports.Set("versions", Napi::Function::New(env, Versions, "versions"));
  return exports;
}

}  // namespace casper

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return casper::Init(env, exports); }

NODE_API_MODULE(casper_snapshot, InitModule)
