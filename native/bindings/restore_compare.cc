// compareRestored(image, restored, live, { skip, ignore }, cancel?, progress?) -> Promise<{ differences,
// mountPoints, entries } | { error }>: --verify's restore proof, on libuv's pool. `restored` is the new image
// stacked over the lower layers (mounted by the caller in a private mount namespace, reached through
// /proc/PID/root), `live` the session's merged root; one tree comparer (read/dir_compare.h) compares them.
#include <napi.h>

#include "bindings/js_error.h"
#include "bindings/js_values.h"
#include "bindings/verify_report.h"
#include "fs/tree_side.h"
#include "read/image_reader.h"
#include "util/error.h"

namespace casper {

namespace {

struct RestoreResult {
  std::vector<VerifyDifference> differences;
  std::vector<std::string> mounts;
  uint64_t entries = 0;
};

class RestoreJob : public Napi::AsyncWorker {
 public:
  RestoreJob(Napi::Env env, std::string image, std::string restored, std::string live, CompareOptions o, Napi::Object keep)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), image_(std::move(image)), restored_(std::move(restored)), live_(std::move(live)), o_(std::move(o)) {
    keep_ = Napi::Persistent(keep);
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    err_ = capture_error([this]() { run(); });
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_) {
      deferred_.Resolve(failure_value(env, *err_));
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("differences", differences_array(env, r_.differences, "restored", "live"));
    Napi::Array mounts = Napi::Array::New(env, r_.mounts.size());
    for (size_t i = 0; i < r_.mounts.size(); i++) mounts.Set(uint32_t(i), r_.mounts[i]);
    o.Set("mountPoints", mounts);
    o.Set("entries", double(r_.entries));
    deferred_.Resolve(o);
  }

 private:
  void run() {
    // Contents are read where the restored view takes a file from the new image; a file it does not hold comes
    // from the same lower layers the live view reads, and its size, mtime and the rest are compared.
    Image img(image_);
    img.read_tree(o_.cancel, nullptr);
    std::set<std::string> held;
    for (uint32_t i = 0; i < img.nodes.size(); i++)
      if (img.inode.at(img.nodes[i].ino).is_file()) held.insert(img.path_of(i));
    o_.content_filter = &held;
    o_.only_a = "extra";
    o_.only_b = "missing";
    uint64_t entries = 0;
    if (!o_.progress) o_.progress = &entries;
    TreeSide restored(restored_, TreeSide::Label::kColon, "restored", false);
    TreeSide live(live_, TreeSide::Label::kPath, live_, true);
    compare_trees(restored, live, o_, r_.differences, r_.mounts);
    r_.entries = __atomic_load_n(o_.progress, __ATOMIC_RELAXED);
  }

  Napi::Promise::Deferred deferred_;
  std::string image_, restored_, live_;
  CompareOptions o_;
  RestoreResult r_;
  Napi::ObjectReference keep_;
  std::unique_ptr<NativeError> err_;
};

Napi::Value CompareRestored(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString() || !info[3].IsObject())
      throw Napi::TypeError::New(env, "compareRestored needs (image, restored, live, options)");
    Napi::Object opts = info[3].As<Napi::Object>();
    CompareOptions o;
    o.skip = string_set(opts, "skip");
    o.ignore = string_set(opts, "ignore");
    Napi::Object keep = Napi::Object::New(env);
    if (info.Length() > 4 && info[4].IsTypedArray()) {
      Napi::TypedArray t = info[4].As<Napi::TypedArray>();
      if (t.TypedArrayType() != napi_int32_array || t.ElementLength() < 1) throw Napi::TypeError::New(env, "cancel must be an Int32Array");
      o.cancel.p = reinterpret_cast<const int32_t*>(bytes_of(info[4]).first);
      keep.Set("cancel", info[4]);
    }
    if (info.Length() > 5 && info[5].IsTypedArray()) {
      Napi::TypedArray t = info[5].As<Napi::TypedArray>();
      if (t.TypedArrayType() != napi_biguint64_array || t.ElementLength() < 1) throw Napi::TypeError::New(env, "progress must be a BigUint64Array");
      o.progress = reinterpret_cast<uint64_t*>(const_cast<uint8_t*>(bytes_of(info[5]).first));
      keep.Set("progress", info[5]);
    }
    auto* job = new RestoreJob(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(), info[2].As<Napi::String>().Utf8Value(),
                               std::move(o), keep);
    Napi::Promise p = job->promise();
    job->Queue();
    return p;
  });
}

}  // namespace

void define_restore_compare(Napi::Env env, Napi::Object exports) {
  exports.Set("compareRestored", Napi::Function::New(env, CompareRestored, "compareRestored"));
}

}  // namespace casper
