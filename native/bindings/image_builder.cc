// ImageBuilder: the main thread's handle on one image being written. The walk and the table emission run
// off the event loop (AsyncWorker on libuv's pool); per-result data writing is short and synchronous.
#include <napi.h>

#include <sys/stat.h>

#include <algorithm>
#include <memory>

#include "bindings/js_error.h"
#include "bindings/js_values.h"
#include "image/data_writer.h"
#include "image/table_writer.h"
#include "traverse/walker.h"
#include "util/error.h"

namespace casper {

namespace {

// Runs fn on the libuv pool and settles a promise; NativeErrors become JS errors with code/path/syscall.
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)), done_(std::move(done)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  // Keeps a JS value (an input buffer) alive until the job settles.
  void hold(Napi::Value v) { held_ = Napi::Persistent(v.As<Napi::Object>()); }
  void Execute() override { err_ = capture_error(work_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_) {
      Napi::Error e = Napi::Error::New(env, err_->what());
      set_error_fields(e.Value(), *err_);
      deferred_.Reject(e.Value());
      return;
    }
    try {
      deferred_.Resolve(done_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::unique_ptr<NativeError> err_;
  Napi::ObjectReference held_;
};

class ImageBuilder : public Napi::ObjectWrap<ImageBuilder> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ImageBuilder",
                       {InstanceMethod<&ImageBuilder::Walk>("walk"),
                        InstanceMethod<&ImageBuilder::Begin>("begin"),
                        InstanceMethod<&ImageBuilder::NextTask>("nextTask"),
                        InstanceMethod<&ImageBuilder::AddResult>("addResult"),
                        InstanceMethod<&ImageBuilder::TakeClosedFragments>("takeClosedFragments"),
                        InstanceMethod<&ImageBuilder::WriteFragment>("writeFragment"),
                        InstanceMethod<&ImageBuilder::CloseOpenFragment>("closeOpenFragment"),
                        InstanceMethod<&ImageBuilder::Finish>("finish"),
                        InstanceMethod<&ImageBuilder::TreeInfo>("treeInfo"),
                        InstanceMethod<&ImageBuilder::ImagePaths>("imagePaths"),
                        InstanceMethod<&ImageBuilder::LeaveOut>("leaveOut")});
  }

  // new ImageBuilder(options, cancelInt32Array?)
  ImageBuilder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ImageBuilder>(info) {
    guarded(info.Env(), [&]() -> Napi::Value {
      if (!info[0].IsObject()) throw Napi::TypeError::New(info.Env(), "ImageBuilder needs an options object");
      opts_ = image_options(info[0].As<Napi::Object>());
      make_compressor(opts_.compressor);  // validates compressor name and options now
      if (info.Length() > 1 && info[1].IsTypedArray()) {
        cancel_ref_ = Napi::Persistent(info[1].As<Napi::Object>());
        cancel_.p = reinterpret_cast<const int32_t*>(bytes_of(info[1]).first);
      }
      return info.Env().Undefined();
    });
  }

 private:
  // walk(sourceDir, walkOptions) -> Promise<void>
  Napi::Value Walk(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      std::string root = info[0].ToString().Utf8Value();
      WalkOptions wo = walk_options(info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(info.Env()));
      wo.cancel = cancel_;
      auto* job = new Job(
          info.Env(), [this, root, wo]() { tree_ = std::make_unique<Tree>(walk_tree(root, wo)); },
          [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
      Napi::Promise p = job->promise();
      job->Queue();
      return p;
    });
  }

  // begin(fd): the output file is open; data goes after the superblock and options block.
  Napi::Value Begin(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      if (!tree_) throw NativeError("EINVAL", "begin() before walk()");
      fd_ = info[0].ToNumber().Int32Value();
      data_ = std::make_unique<DataWriter>(opts_, *tree_, fd_, data_section_start(opts_));
      return info.Env().Undefined();
    });
  }

  // nextTask(taskBytes) -> { task: ArrayBuffer, startsFile: boolean, bytes: number } | null
  Napi::Value NextTask(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      bool starts = false;
      uint64_t bytes = 0;
      std::vector<uint8_t> t = writer().next_task(uint64_t(info[0].ToNumber().Int64Value()), &starts, &bytes);
      if (t.empty()) return info.Env().Null();
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("task", to_array_buffer(info.Env(), t.data(), t.size()));
      o.Set("startsFile", starts);
      o.Set("bytes", double(bytes));
      return o;
    });
  }

  // addResult(result) -> Promise<[{ index, raw: ArrayBuffer }]>: writes a task's blocks off the event loop
  // (a write can stall on page-cache writeback) and returns the fragment blocks that filled up.
  Napi::Value AddResult(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto [p, n] = bytes_of(info[0]);
      DataWriter* w = &writer();
      auto closed = std::make_shared<std::vector<std::pair<uint32_t, std::vector<uint8_t>>>>();
      auto* job = new Job(
          info.Env(), [w, p = p, n = n, closed]() { w->add_result(p, n); *closed = w->take_closed_fragments(); },
          [closed](Napi::Env env) -> Napi::Value { return fragments_array(env, *closed); });
      job->hold(info[0]);
      Napi::Promise promise = job->promise();
      job->Queue();
      return promise;
    });
  }

  static Napi::Array fragments_array(Napi::Env env, std::vector<std::pair<uint32_t, std::vector<uint8_t>>>& closed) {
    Napi::Array a = Napi::Array::New(env, closed.size());
    for (size_t i = 0; i < closed.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("index", closed[i].first);
      o.Set("raw", to_array_buffer(env, closed[i].second.data(), closed[i].second.size()));
      a.Set(uint32_t(i), o);
    }
    return a;
  }

  // takeClosedFragments() -> [{ index, raw: ArrayBuffer }]
  Napi::Value TakeClosedFragments(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto closed = writer().take_closed_fragments();
      return fragments_array(info.Env(), closed);
    });
  }

  // writeFragment(index, word, bytes) -> Promise<void>, written off the event loop.
  Napi::Value WriteFragment(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto [p, n] = bytes_of(info[2]);
      DataWriter* w = &writer();
      uint32_t index = info[0].ToNumber().Uint32Value(), word = info[1].ToNumber().Uint32Value();
      auto* job = new Job(
          info.Env(), [w, index, word, p = p, n = n]() { w->write_fragment(index, word, p, n); },
          [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
      job->hold(info[2]);
      Napi::Promise promise = job->promise();
      job->Queue();
      return promise;
    });
  }

  Napi::Value CloseOpenFragment(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      writer().close_open_fragment();
      return info.Env().Undefined();
    });
  }

  // finish() -> Promise<summary>: tables, superblock, padding.
  Napi::Value Finish(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      if (writer().pending_fragments() != 0) throw NativeError("EINVAL", "internal: finish() with fragments not written");
      auto summary = std::make_shared<ImageSummary>();
      auto* job = new Job(
          info.Env(), [this, summary]() { *summary = write_tables(opts_, *tree_, *data_, fd_, cancel_); },
          [this, summary](Napi::Env env) -> Napi::Value { return summary_object(env, *summary); });
      Napi::Promise p = job->promise();
      job->Queue();
      return p;
    });
  }

  // treeInfo() -> { entries, files, bytes, warnings[], skippedSystemXattrs }
  Napi::Value TreeInfo(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      if (!tree_) throw NativeError("EINVAL", "treeInfo() before walk()");
      Napi::Env env = info.Env();
      uint64_t files = 0, bytes = 0, stored = 0;
      for (auto& e : tree_->entries)
        if (S_ISREG(e.mode) && e.link_primary == kNone && !e.skipped) {
          files++;
          bytes += e.size;
          stored += std::min(e.size, e.disk_bytes);  // holes of sparse files are not stored
        }
      Napi::Object o = Napi::Object::New(env);
      o.Set("entries", double(tree_->entries.size()));
      o.Set("files", double(files));
      o.Set("bytes", double(bytes));
      o.Set("allocatedBytes", double(stored));
      o.Set("skippedSystemXattrs", double(tree_->skipped_system_xattrs));
      Napi::Array w = Napi::Array::New(env, tree_->warnings.size());
      for (size_t i = 0; i < tree_->warnings.size(); i++) w.Set(uint32_t(i), tree_->warnings[i]);
      o.Set("warnings", w);
      return o;
    });
  }

  // imagePaths() -> [{ path, dir }]: for exclusion patterns matched in JS (only called when there are some).
  Napi::Value ImagePaths(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      if (!tree_) throw NativeError("EINVAL", "imagePaths() before walk()");
      Napi::Env env = info.Env();
      Napi::Array paths = Napi::Array::New(env, tree_->entries.size());
      Napi::Uint8Array dirs = Napi::Uint8Array::New(env, tree_->entries.size());
      for (uint32_t i = 0; i < tree_->entries.size(); i++) {
        paths.Set(i, tree_->image_path(i));
        dirs[i] = S_ISDIR(tree_->entries[i].mode) ? 1 : 0;
      }
      Napi::Object o = Napi::Object::New(env);
      o.Set("paths", paths);
      o.Set("dirs", dirs);
      return o;
    });
  }

  // leaveOut(indices: Uint32Array): those entries and everything below them are left out.
  Napi::Value LeaveOut(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      if (!tree_ || data_) throw NativeError("EINVAL", "leaveOut() must come between walk() and begin()");
      Napi::Uint32Array idx = info[0].As<Napi::Uint32Array>();
      for (size_t k = 0; k < idx.ElementLength(); k++) {
        uint32_t i = idx[k];
        if (i == 0 || i >= tree_->entries.size()) throw NativeError("EINVAL", "leaveOut(): bad entry index");
        tree_->leave_out(i);
      }
      return info.Env().Undefined();
    });
  }

  Napi::Object summary_object(Napi::Env env, const ImageSummary& s) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("bytesUsed", double(s.bytes_used));
    o.Set("imageSize", double(s.image_size));
    o.Set("inodes", s.inodes);
    o.Set("ids", s.ids);
    o.Set("fragments", s.fragments);
    o.Set("xattrIds", s.xattr_ids);
    o.Set("inodeTableBytes", double(s.inode_table_bytes));
    o.Set("directoryTableBytes", double(s.directory_table_bytes));
    Napi::Object types = Napi::Object::New(env);
    types.Set("files", s.files);
    types.Set("directories", s.dirs);
    types.Set("symlinks", s.symlinks);
    types.Set("devices", s.devices);
    types.Set("fifos", s.fifos);
    types.Set("sockets", s.sockets);
    types.Set("hardlinks", s.hardlinks);
    o.Set("types", types);
    const DataStats& d = data_->stats();
    o.Set("duplicates", double(d.duplicates));
    o.Set("duplicateBytes", double(d.duplicate_bytes));
    o.Set("bytesRead", double(d.bytes_read));
    o.Set("dataBlocks", double(d.blocks));
    o.Set("sparseBlocks", double(d.sparse_blocks));
    o.Set("dataBytes", double(data_->data_end()));
    Napi::Array changed = Napi::Array::New(env, d.changed.size());
    for (size_t i = 0; i < d.changed.size(); i++) changed.Set(uint32_t(i), tree_->path(d.changed[i]));
    o.Set("changedFiles", changed);
    Napi::Array skipped = Napi::Array::New(env, tree_->skipped.size());
    for (size_t i = 0; i < tree_->skipped.size(); i++) {
      Napi::Object sk = Napi::Object::New(env);
      sk.Set("path", tree_->skipped[i].path);
      sk.Set("code", tree_->skipped[i].code);
      skipped.Set(uint32_t(i), sk);
    }
    o.Set("skipped", skipped);
    return o;
  }

  DataWriter& writer() {
    if (!data_) throw NativeError("EINVAL", "the data phase has not begun");
    return *data_;
  }

  ImageOptions opts_;
  CancelFlag cancel_;
  Napi::ObjectReference cancel_ref_;
  std::unique_ptr<Tree> tree_;
  std::unique_ptr<DataWriter> data_;
  int fd_ = -1;
};

}  // namespace

Napi::Function define_image_builder(Napi::Env env) { return ImageBuilder::Define(env); }

}  // namespace casper
