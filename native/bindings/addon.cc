// Module entry: the ImageBuilder class, the worker functions, the output lock, version information, the
// calling thread's CPU clock, and the unit tests' in-memory access to the data writer (bindings/testing.cc).
#include <napi.h>
#include <time.h>
#include <unistd.h>

#include "bindings/js_error.h"
#include "bindings/version.h"
#include "compress/compressor.h"
#include "format/constants.h"

namespace casper {

Napi::Function define_image_builder(Napi::Env env);
void define_worker_functions(Napi::Env env, Napi::Object exports);
void define_file_lock(Napi::Env env, Napi::Object exports);
void define_output_dir(Napi::Env env, Napi::Object exports);
void define_verify(Napi::Env env, Napi::Object exports);
void define_restore_compare(Napi::Env env, Napi::Object exports);
void define_testing(Napi::Env env, Napi::Object exports);

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

// threadCpuMs() -> CPU time of the calling thread in ms (CLOCK_THREAD_CPUTIME_ID): the data pipeline reads it
// on the main thread around the data phase, for the bench's serial-part figures.
Napi::Value ThreadCpuMs(const Napi::CallbackInfo& info) {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return Napi::Number::New(info.Env(), double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6);
}

// exitNow(code): ends the process at once (_exit), for the CLI's signal handlers once they have removed what the
// run made. process.exit() first joins libuv's pool and the worker threads, so it waits for whatever native work is
// under way (a walk, a regexec, a comparison), for seconds or for ever; a stop signal must not.
Napi::Value ExitNow(const Napi::CallbackInfo& info) { ::_exit(info[0].ToNumber().Int32Value()); }

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("ImageBuilder", define_image_builder(env));
  define_worker_functions(env, exports);
  define_file_lock(env, exports);
  define_output_dir(env, exports);
  define_verify(env, exports);
  define_restore_compare(env, exports);
  define_testing(env, exports);
  exports.Set("versions", Napi::Function::New(env, Versions, "versions"));
  exports.Set("threadCpuMs", Napi::Function::New(env, ThreadCpuMs, "threadCpuMs"));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow, "exitNow"));
  return exports;
}

}  // namespace casper

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return casper::Init(env, exports); }

NODE_API_MODULE(casper_snapshot, InitModule)
