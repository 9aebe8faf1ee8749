// verifyImage(path, options, cancel?, progress?) -> Promise<report>: the image check (and the comparison with a
// tree) on libuv's pool, never on the JS thread. Corruption is part of the report; the promise rejects (a
// typed error) when the image cannot be read at all (ENOENT, EACCES, …) or on a cancel (ECANCELED).
#include <napi.h>

#include "bindings/verify_report.h"

#include "bindings/async_job.h"
#include "bindings/js_error.h"
#include "bindings/js_values.h"
#include "util/error.h"

namespace casper {

namespace {

Napi::Value offset_value(Napi::Env env, uint64_t off) {
  if (off == ~uint64_t(0)) return env.Null();
  return Napi::Number::New(env, double(off));
}

}  // namespace

Napi::Object verify_report_object(Napi::Env env, const VerifyReport& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", r.ok);
  Napi::Array problems = Napi::Array::New(env, r.problems.size());
  for (size_t i = 0; i < r.problems.size(); i++) {
    const VerifyProblem& p = r.problems[i];
    Napi::Object e = Napi::Object::New(env);
    e.Set("code", p.code);
    e.Set("table", p.table);
    e.Set("offset", offset_value(env, p.offset));
    if (!p.path.empty()) e.Set("path", p.path);
    e.Set("message", p.message);
    problems.Set(uint32_t(i), e);
  }
  o.Set("problems", problems);
  o.Set("problemsTruncated", r.problems_truncated);
  o.Set("differences", differences_array(env, r.differences, "image", "dir"));
  Napi::Object img = Napi::Object::New(env);
  img.Set("imageSize", double(r.image_size));
  img.Set("bytesUsed", double(r.bytes_used));
  img.Set("compressor", r.compressor);
  img.Set("blockSize", r.block_size);
  img.Set("mkfsTime", r.mkfs_time);
  img.Set("flags", r.flags);
  img.Set("inodes", r.inodes);
  img.Set("ids", r.ids);
  img.Set("fragmentBlocks", r.fragment_blocks);
  img.Set("xattrIds", r.xattr_ids);
  img.Set("exportTable", r.export_table);
  o.Set("image", img);
  Napi::Object c = Napi::Object::New(env);
  c.Set("entries", double(r.entries));
  c.Set("directories", double(r.directories));
  c.Set("files", double(r.files));
  c.Set("symlinks", double(r.symlinks));
  c.Set("devices", double(r.devices));
  c.Set("fifos", double(r.fifos));
  c.Set("sockets", double(r.sockets));
  c.Set("hardlinks", double(r.hardlinks));
  c.Set("fileBytes", double(r.file_bytes));
  c.Set("installedBytes", double(r.installed_bytes));
  c.Set("dataBlocks", double(r.data_blocks));
  c.Set("sparseBlocks", double(r.sparse_blocks));
  c.Set("fragmentTails", double(r.fragment_tails));
  c.Set("dataBytesRead", double(r.data_bytes_read));
  c.Set("metadataBlocks", double(r.metadata_blocks));
  o.Set("counts", c);
  Napi::Object d = Napi::Object::New(env);
  d.Set("files", double(r.digest_files));
  d.Set("bytes", double(r.digest_bytes));
  o.Set("digests", d);
  Napi::Object g = Napi::Object::New(env);
  g.Set("record", r.record);
  g.Set("blocks", double(r.record_blocks));
  g.Set("files", double(r.record_files));
  g.Set("fragments", double(r.record_fragments));
  o.Set("integrity", g);
  return o;
}

Napi::Array differences_array(Napi::Env env, const std::vector<TreeDifference>& diffs, const char* a_key,
                              const char* b_key) {
  Napi::Array out = Napi::Array::New(env, diffs.size());
  for (size_t i = 0; i < diffs.size(); i++) {
    const TreeDifference& d = diffs[i];
    Napi::Object e = Napi::Object::New(env);
    e.Set("path", d.path);
    e.Set("kind", d.kind);
    if (!d.image.empty()) e.Set(a_key, d.image);
    if (!d.dir.empty()) e.Set(b_key, d.dir);
    e.Set("line", d.line);
    out.Set(uint32_t(i), e);
  }
  return out;
}

std::set<std::string> string_set(const Napi::Object& opts, const char* key) {
  std::set<std::string> out;
  if (!opts.Has(key) || !opts.Get(key).IsArray()) return out;
  Napi::Array a = opts.Get(key).As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.insert(a.Get(i).ToString().Utf8Value());
  return out;
}

namespace {

Napi::Value VerifyImage(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "verifyImage needs an image path");
    auto o = std::make_shared<VerifyOptions>();
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object opts = info[1].As<Napi::Object>();
      if (opts.Has("dir") && opts.Get("dir").IsString()) o->dir = opts.Get("dir").As<Napi::String>().Utf8Value();
      if (opts.Has("jobs") && opts.Get("jobs").IsNumber()) {
        int64_t j = opts.Get("jobs").As<Napi::Number>().Int64Value();
        o->jobs = unsigned(std::max<int64_t>(0, std::min<int64_t>(j, 256)));
      }
      if (opts.Has("data") && !opts.Get("data").IsUndefined()) o->data = opts.Get("data").ToBoolean().Value();
      o->ignore = string_set(opts, "ignore");
    }
    o->cancel.p = static_cast<const int32_t*>(typed_array_arg(info, 2, napi_int32_array, 1, "cancel"));
    o->progress = static_cast<uint64_t*>(typed_array_arg(info, 3, napi_biguint64_array, 4, "progress"));
    std::string path = info[0].As<Napi::String>().Utf8Value();
    auto report = std::make_shared<VerifyReport>();
    return AsyncJob::start(
        env, [path, o, report]() { *report = verify_image(path, *o); },
        [report](Napi::Env env) -> Napi::Value { return verify_report_object(env, *report); }, {info[2], info[3]});
  });
}

}  // namespace

void define_verify(Napi::Env env, Napi::Object exports) {
  exports.Set("verifyImage", Napi::Function::New(env, VerifyImage, "verifyImage"));
}

}  // namespace casper
