// compareRestored(image, restored, live, { skip, ignore }, cancel?, progress?) -> Promise<{ differences,
// mountPoints, entries }>: --verify's restore proof, on libuv's pool (a failure rejects with the typed error).
// `restored` is the new image stacked over the lower layers (mounted by the caller in a private mount
// namespace, reached through /proc/PID/root), `live` the session's merged root; one tree comparer
// (compare/dir_compare.h) compares them.
#include <napi.h>

#include "bindings/async_job.h"
#include "bindings/js_error.h"
#include "bindings/js_values.h"
#include "bindings/verify_report.h"
#include "compare/tree_side.h"
#include "read/image_reader.h"
#include "util/error.h"

namespace casper {

namespace {

struct RestoreResult {
  std::vector<TreeDifference> differences;
  std::vector<std::string> mounts;
  uint64_t entries = 0;
};

// Contents are read where the restored view takes a file from the new image; a file it does not hold comes from
// the same lower layers the live view reads, and its size, mtime and the rest are compared.
RestoreResult compare_restored(const std::string& image, const std::string& restored_root, const std::string& live_root,
                               CompareOptions o) {
  RestoreResult r;
  Image img(image);
  img.read_tree(o.cancel, nullptr);
  std::set<std::string> held;
  for (uint32_t i = 0; i < img.nodes.size(); i++)
    if (img.inode.at(img.nodes[i].ino).is_file()) held.insert(img.path_of(i));
  o.content_filter = &held;
  o.only_a = "extra";
  o.only_b = "missing";
  uint64_t entries = 0;
  if (!o.progress) o.progress = &entries;
  TreeSide restored(restored_root, TreeSide::Label::kColon, "restored", false);
  TreeSide live(live_root, TreeSide::Label::kPath, live_root, true);
  compare_trees(restored, live, o, r.differences, r.mounts);
  r.entries = __atomic_load_n(o.progress, __ATOMIC_RELAXED);
  return r;
}

Napi::Value CompareRestored(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString() || !info[3].IsObject())
      throw Napi::TypeError::New(env, "compareRestored needs (image, restored, live, options)");
    Napi::Object opts = info[3].As<Napi::Object>();
    CompareOptions o;
    o.skip = string_set(opts, "skip");
    o.ignore = string_set(opts, "ignore");
    o.cancel.p = static_cast<const int32_t*>(typed_array_arg(info, 4, napi_int32_array, 1, "cancel"));
    o.progress = static_cast<uint64_t*>(typed_array_arg(info, 5, napi_biguint64_array, 1, "progress"));
    std::string image = info[0].As<Napi::String>().Utf8Value(), restored = info[1].As<Napi::String>().Utf8Value(),
                live = info[2].As<Napi::String>().Utf8Value();
    auto r = std::make_shared<RestoreResult>();
    return AsyncJob::start(
        env, [image, restored, live, o, r]() { *r = compare_restored(image, restored, live, o); },
        [r](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("differences", differences_array(env, r->differences, "restored", "live"));
          Napi::Array mounts = Napi::Array::New(env, r->mounts.size());
          for (size_t i = 0; i < r->mounts.size(); i++) mounts.Set(uint32_t(i), r->mounts[i]);
          out.Set("mountPoints", mounts);
          out.Set("entries", double(r->entries));
          return out;
        },
        {info[4], info[5]});
  });
}

}  // namespace

void define_restore_compare(Napi::Env env, Napi::Object exports) {
  exports.Set("compareRestored", Napi::Function::New(env, CompareRestored, "compareRestored"));
}

}  // namespace casper
