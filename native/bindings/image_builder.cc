// ImageBuilder: JavaScript's handle on one image being written.
//
// Methods, their thread and their order (each checks the order; a call out of order is an EINTERNAL_ORDER
// error, util/error.h). A promise rejects with the typed error (bindings/async_job.h):
//   walk(root, options, progress?) -> Promise  libuv pool  first, once (progress: BigUint64Array(2), entries
//                                      and file bytes found so far)
//   leaveOut(indices)                  main thread  after walk, before begin (wildcard/regex excludes)
//   matchRegex(patterns)   -> Promise  libuv pool   after walk, before leaveOut: -regex excludes (glibc regexec)
//   treeInfo(), imagePaths()           main thread  after walk
//   openBase(path)                     main thread  before walk, at most once (--base): opens the base image
//                                      with the trust checks (image/base_trust.h); only that descriptor is read
//   useBase(opts)          -> Promise  libuv pool   after walk (and leaveOut), before begin, at most once, after
//                                      openBase: reads the base image and marks the files whose data it gives
//   begin(fd)                          main thread  after walk, once: the data phase starts
//   startData(taskBytes, window, nice?) -> id main thread  after begin, once: the data engine (image/data_engine.h)
//                                      that every pool thread then runs with runData(id, spec) / runDataAsync
//   dataProgress()                     main thread  data phase: bytes in and out, tasks, the writer's state
//   wakeData()                         main thread  data phase: waiting pool threads look at the cancel flag now
//   endData()                          main thread  once every runData call has returned: ends the data phase
//   finish(jobs?)          -> Promise  libuv pool   once the data section is complete: tables, superblock
//                                      (metadata blocks compressed on `jobs` threads)
//   verifyWritten(path, jobs, progress?) -> Promise  libuv pool  after finish, once (--verify): reads the
//                                      image at path back and checks each file's digest against the data phase's
//   closeBase()                        main thread  any time no job or data phase runs: closes the base image's
//                                      descriptor now (a base on a USB stick must not keep it busy until GC)
// During the data phase no task or result crosses into JavaScript: the engine's threads plan, read,
// compress and hand results to the OrderedWriter, which serialises them (image/ordered_writer.h).
#include <napi.h>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "bindings/async_job.h"
#include "bindings/js_error.h"
#include "bindings/js_values.h"
#include "bindings/verify_report.h"
#include "image/base_image.h"
#include "image/base_trust.h"
#include "image/data_engine.h"
#include "image/data_writer.h"
#include "image/ordered_writer.h"
#include "image/table_writer.h"
#include "image/task_planner.h"
#include "verify/verifier.h"
#include "traverse/pattern_match.h"
#include "traverse/plan_feed.h"
#include "traverse/walker.h"
#include "util/clock.h"
#include "util/error.h"

namespace casper {

namespace {

class ImageBuilder : public Napi::ObjectWrap<ImageBuilder> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "ImageBuilder",
        {InstanceMethod<&ImageBuilder::Walk>("walk"), InstanceMethod<&ImageBuilder::OpenBase>("openBase"),
         InstanceMethod<&ImageBuilder::UseBase>("useBase"), InstanceMethod<&ImageBuilder::Begin>("begin"),
         InstanceMethod<&ImageBuilder::StartData>("startData"),
         InstanceMethod<&ImageBuilder::DataProgress>("dataProgress"),
         InstanceMethod<&ImageBuilder::WakeData>("wakeData"), InstanceMethod<&ImageBuilder::EndData>("endData"),
         InstanceMethod<&ImageBuilder::Finish>("finish"), InstanceMethod<&ImageBuilder::VerifyWritten>("verifyWritten"),
         InstanceMethod<&ImageBuilder::TreeInfo>("treeInfo"), InstanceMethod<&ImageBuilder::ImagePaths>("imagePaths"),
         InstanceMethod<&ImageBuilder::MatchRegex>("matchRegex"), InstanceMethod<&ImageBuilder::LeaveOut>("leaveOut"),
         InstanceMethod<&ImageBuilder::CloseBase>("closeBase")});
  }

  // new ImageBuilder(options, cancelInt32Array?)
  ImageBuilder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ImageBuilder>(info) {
    guarded(info.Env(), [&]() -> Napi::Value {
      if (!info[0].IsObject()) throw Napi::TypeError::New(info.Env(), "ImageBuilder needs an options object");
      opts_ = image_options(info[0].As<Napi::Object>());
      make_compressor(opts_.compressor);  // validates compressor name and options now
      cancel_.p = static_cast<const int32_t*>(typed_array_arg(info, 1, napi_int32_array, 1, "cancel"));
      if (cancel_.p) cancel_ref_ = Napi::Persistent(info[1].As<Napi::Object>());
      return info.Env().Undefined();
    });
  }

  ~ImageBuilder() override {
    if (engine_id_) unregister_engine(engine_id_);
  }

 private:
  enum class Stage { kNew, kWalking, kWalked, kData, kDataEnded, kFinishing, kFinished, kVerifying, kVerified };

  void expect(Stage s, const char* method) const {
    if (stage_ != s) throw call_order_fault(std::string(method) + "() called out of order");
  }

  // walk(sourceDir, walkOptions, progress?: BigUint64Array(2), overlap?) -> Promise<{ cpuMs }>. overlap: the data
  // phase may begin (begin(), startData()) while the walk goes on, its files coming through a feed
  // (traverse/plan_feed.h); nothing else may read the tree until the promise settles. cpuMs: the walk's thread CPU.
  Napi::Value Walk(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      expect(Stage::kNew, "walk");
      std::string root = info[0].ToString().Utf8Value();
      WalkOptions wo = walk_options(info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(info.Env()));
      wo.cancel = cancel_;
      wo.progress = static_cast<uint64_t*>(typed_array_arg(info, 2, napi_biguint64_array, 2, "progress"));
      const bool overlap = info.Length() > 3 && info[3].ToBoolean().Value();
      if (overlap && !wo.lower_root.empty())
        throw call_order_fault("walk(): a diff-mode walk cannot overlap the data phase");
      auto cpu_ms = std::make_shared<double>(0);
      if (overlap) {
        tree_ = std::make_unique<Tree>();
        feed_ = std::make_unique<PlanFeed>();
        wo.feed = feed_.get();
        stage_ = Stage::kWalked;  // begin() and startData() may follow at once
      } else {
        stage_ = Stage::kWalking;
      }
      walking_ = true;
      return AsyncJob::start(
          info.Env(),
          [this, root, wo, overlap, cpu_ms]() {
            struct Done {
              std::atomic<bool>& flag;
              ~Done() { flag = false; }
            } done{walking_};
            const uint64_t cpu0 = thread_cpu_ns();
            if (overlap) {
              try {
                walk_tree_into(*tree_, root, wo);
                walk_summary_ = std::make_unique<WalkSummary>(summarize(*tree_));
              } catch (...) {
                feed_->fail();
                throw;
              }
              feed_->close();
            } else {
              tree_ = std::make_unique<Tree>(walk_tree(root, wo));
            }
            *cpu_ms = double(thread_cpu_ns() - cpu0) / 1e6;
          },
          [this, overlap, cpu_ms](Napi::Env env) -> Napi::Value {
            if (!overlap) stage_ = Stage::kWalked;
            Napi::Object o = Napi::Object::New(env);
            o.Set("cpuMs", *cpu_ms);
            return o;
          },
          {info[2]});
    });
  }

  // The tree is read only once the walk is over (an overlapped walk still adds to it meanwhile).
  void walk_over(const char* method) const {
    if (walking_) throw call_order_fault(std::string(method) + "() called while the walk goes on");
  }

  // openBase(path) -> { refused, contentOnly }: opens the base image once, with the trust checks; refused
  // (non-empty) says why it is not used at all, contentOnly why every file taken from it must first be
  // compared with the source. Never blocks (O_NONBLOCK: a FIFO is refused, not waited on).
  Napi::Value OpenBase(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      expect(Stage::kNew, "openBase");
      if (base_open_) throw call_order_fault("openBase() called twice");
      base_path_ = info[0].ToString().Utf8Value();
      base_open_ = std::make_unique<BaseOpen>(open_base(base_path_));
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("refused", base_open_->refused);
      o.Set("contentOnly", base_open_->content_only);
      return o;
    });
  }

  // useBase({ content, jobs }) -> Promise<{ used, reason, check, checkReason, files, bytes, racy, clamped, compared,
  // comparedBytes, copiedFragments, repackedTails, rejected, rejectedPaths }>: the base openBase() opened.
  // content compares file data with the base's on `jobs` threads (also chosen, checkReason saying why, for a
  // base without an integrity record or on a filesystem that does not keep ownership). A base that cannot
  // be read or does not fit these options is not used (used: false, reason says why); the promise rejects
  // only on cancel or when memory runs out.
  Napi::Value UseBase(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      expect(Stage::kWalked, "useBase");
      walk_over("useBase");
      if (base_ || base_tried_ || !base_open_ || !base_open_->refused.empty())
        throw call_order_fault("useBase() called twice or without an open base");
      base_tried_ = true;
      Napi::Object bo = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(info.Env());
      bool content = bo.Has("content") && bo.Get("content").ToBoolean().Value();
      int64_t jobs = bo.Has("jobs") ? bo.Get("jobs").ToNumber().Int64Value() : 1;
      unsigned threads = unsigned(std::max<int64_t>(1, std::min<int64_t>(jobs, 256)));
      stage_ = Stage::kWalking;  // nothing else may touch the tree meanwhile
      auto reason = std::make_shared<std::string>();
      auto check_reason = std::make_shared<std::string>();
      auto checked_content = std::make_shared<bool>(content);
      auto base = std::make_shared<std::unique_ptr<BaseImage>>();
      return AsyncJob::start(
          info.Env(),
          [this, reason, check_reason, checked_content, base, content, threads]() {
            try {
              auto b = std::make_unique<BaseImage>(std::move(base_open_->fd), base_path_, cancel_);
              *reason = b->incompatibility(opts_);  // the superblock alone decides this, before any table is read
              if (!reason->empty()) return;
              b->load();
              if (!content && !base_open_->content_only.empty())
                *check_reason = base_open_->content_only;
              else if (!content && !b->has_record())
                *check_reason = "it has no integrity record (made by another tool or an older casper-snapshot)";
              *checked_content = content || !check_reason->empty();
              b->plan(*tree_, opts_, *checked_content, threads);
              *base = std::move(b);
            } catch (const NativeError& e) {
              if (e.code == "ECANCELED" || e.code == "ENOMEM") throw;
              for (auto& entry : tree_->entries) entry.from_base = false;  // a plan cut short is no plan
              *reason = e.what();
            }
          },
          [this, reason, check_reason, checked_content, base](Napi::Env env) -> Napi::Value {
            stage_ = Stage::kWalked;
            base_ = std::move(*base);
            Napi::Object o = Napi::Object::New(env);
            o.Set("used", bool(base_));
            o.Set("reason", *reason);
            o.Set("check", *checked_content ? "content" : "quick");
            o.Set("checkReason", *check_reason);
            BaseStats st = base_ ? base_->stats() : BaseStats();
            o.Set("files", double(st.files));
            o.Set("bytes", double(st.bytes));
            o.Set("racy", double(st.racy));
            o.Set("clamped", double(st.clamped));
            o.Set("compared", double(st.compared));
            o.Set("comparedBytes", double(st.compared_bytes));
            o.Set("copiedFragments", double(st.copied_fragments));
            o.Set("repackedTails", double(st.repacked_tails));
            o.Set("rejected", double(st.rejected));
            Napi::Array paths = Napi::Array::New(env, st.rejected_paths.size());
            for (size_t i = 0; i < st.rejected_paths.size(); i++) paths.Set(uint32_t(i), st.rejected_paths[i]);
            o.Set("rejectedPaths", paths);
            return o;
          });
    });
  }

  // closeBase(): the base's descriptor is closed (when nothing can still read it: no job running, not in the
  // data phase, whose writer copies from it). Returns whether it was.
  Napi::Value CloseBase(const Napi::CallbackInfo& info) {
    if (stage_ == Stage::kWalking || stage_ == Stage::kData || stage_ == Stage::kFinishing ||
        stage_ == Stage::kVerifying)
      return Napi::Boolean::New(info.Env(), false);
    if (data_) data_->forget_base();
    base_.reset();
    base_open_.reset();
    return Napi::Boolean::New(info.Env(), true);
  }

  // begin(fd): the output file is open; data goes after the superblock and options block.
  Napi::Value Begin(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      expect(Stage::kWalked, "begin");
      if (feed_ && base_) throw call_order_fault("begin(): a base cannot be used with an overlapped walk");
      fd_ = info[0].ToNumber().Int32Value();
      data_ = std::make_unique<DataWriter>(opts_, *tree_, fd_, data_section_start(opts_), base_.get(), cancel_);
      if (!feed_) data_->size_for_tree();  // the walk is over: no tree is growing beside the data phase
      ordered_ = std::make_unique<OrderedWriter>(*data_);
      planner_ = feed_ ? std::make_unique<TaskPlanner>(opts_, *feed_) : std::make_unique<TaskPlanner>(opts_, *tree_);
      stage_ = Stage::kData;
      return info.Env().Undefined();
    });
  }

  // startData(taskBytes, window, nice?) -> engine id, for runData/runDataAsync on each pool thread; nice: how much
  // lower the pool threads' priority is while they run it (0: unchanged).
  Napi::Value StartData(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      expect(Stage::kData, "startData");
      if (engine_) throw call_order_fault("startData() called twice");
      uint64_t task_bytes = uint64_t(std::max<int64_t>(1, info[0].ToNumber().Int64Value()));
      uint32_t window = uint32_t(std::max<int64_t>(1, info[1].ToNumber().Int64Value()));
      int nice = info.Length() > 2 && info[2].IsNumber()
                     ? int(std::max<int64_t>(0, std::min<int64_t>(19, info[2].ToNumber().Int64Value())))
                     : 0;
      engine_ = std::make_shared<DataEngine>(*planner_, *ordered_, task_bytes, window, cancel_, nice);
      engine_id_ = register_engine(engine_);
      if (feed_)
        feed_->listen([e = std::weak_ptr<DataEngine>(engine_)]() {
          if (auto engine = e.lock()) engine->wake();  // files published: a thread waiting for a task may go on
        });
      return Napi::Number::New(info.Env(), engine_id_);
    });
  }

  // dataProgress() -> { bytesIn, bytesOut, tasks, fragments, tasksWritten, entriesDone, done, writerCpuMs, writerHeldMs
  // }
  Napi::Value DataProgress(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      if (!engine_) throw call_order_fault("dataProgress() called out of order");
      casper::DataProgress p = engine_->progress();
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("bytesIn", double(p.bytes_in));
      o.Set("bytesOut", double(p.bytes_out));
      o.Set("tasks", p.tasks);
      o.Set("fragments", p.fragments);
      o.Set("tasksWritten", p.writer.tasks_written);
      o.Set("entriesDone", p.writer.entries_done);
      o.Set("done", p.writer.done);
      o.Set("writerCpuMs", double(p.writer.held_cpu_ns) / 1e6);
      o.Set("writerHeldMs", double(p.writer.held_wall_ns) / 1e6);
      return o;
    });
  }

  Napi::Value WakeData(const Napi::CallbackInfo& info) {
    if (engine_) engine_->wake();
    return info.Env().Undefined();
  }

  // endData(): every runData call has returned (the caller awaited them all, whatever their outcome); the
  // engine's threads are gone, so its id is given up.
  Napi::Value EndData(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      expect(Stage::kData, "endData");
      if (!engine_) throw call_order_fault("endData() before startData()");
      unregister_engine(engine_id_);
      if (feed_) feed_->listen(nullptr);
      data_->stop_write_behind();
      stage_ = Stage::kDataEnded;
      return info.Env().Undefined();
    });
  }

  // finish(jobs?) -> Promise<summary>: tables, superblock, padding; the metadata blocks compressed on `jobs` threads.
  Napi::Value Finish(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      expect(Stage::kDataEnded, "finish");
      walk_over("finish");
      if (!ordered_->state().done) throw call_order_fault("finish() before every task and fragment was written");
      int64_t jobs = info.Length() > 0 && info[0].IsNumber() ? info[0].ToNumber().Int64Value() : 1;
      unsigned threads = unsigned(std::max<int64_t>(1, std::min<int64_t>(jobs, 256)));
      stage_ = Stage::kFinishing;
      auto summary = std::make_shared<ImageSummary>();
      return AsyncJob::start(
          info.Env(),
          [this, summary, threads]() {
            *summary = write_tables(opts_, *tree_, *data_, fd_, cancel_, &numbers_, threads);
          },
          [this, summary](Napi::Env env) -> Napi::Value {
            stage_ = Stage::kFinished;
            return summary_object(env, *summary);
          });
    });
  }

  // verifyWritten(path, jobs, progress?: BigUint64Array(4)) -> Promise<verify report> (--verify): the image
  // just written, read back with the native reader (every table, every block), each regular file's content
  // digest recomputed from its stored blocks and fragment tail and compared with the one the workers took of
  // the bytes they read (matched by the inode numbers the table writer gave). A mismatch is a problem
  // (code EDIGEST) in the report; the promise rejects only when the image cannot be read at all or on cancel.
  Napi::Value VerifyWritten(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      expect(Stage::kFinished, "verifyWritten");
      walk_over("verifyWritten");
      auto expected = std::make_shared<std::unordered_map<uint32_t, ExpectedFile>>();
      const std::vector<uint64_t>& digests = data_->digests();
      for (uint32_t i = 0; i < tree_->entries.size(); i++) {
        const Entry& e = tree_->entries[i];
        if (!S_ISREG(e.mode) || e.link_primary != kNone || numbers_[i] == 0) continue;
        expected->emplace(numbers_[i], ExpectedFile{digests[i], tree_->data_path(i), e.from_base, data_->tags()[i]});
      }
      auto o = std::make_shared<VerifyOptions>();
      int64_t jobs = info[1].IsNumber() ? info[1].ToNumber().Int64Value() : 0;
      o->jobs = unsigned(std::max<int64_t>(0, std::min<int64_t>(jobs, 256)));
      o->cancel = cancel_;
      o->progress = static_cast<uint64_t*>(typed_array_arg(info, 2, napi_biguint64_array, 4, "progress"));
      std::string path = info[0].ToString().Utf8Value();
      auto report = std::make_shared<VerifyReport>();
      stage_ = Stage::kVerifying;
      return AsyncJob::start(
          info.Env(),
          [path, o, expected, report]() {
            o->expected = expected.get();
            *report = verify_image(path, *o);
          },
          [this, report](Napi::Env env) -> Napi::Value {
            stage_ = Stage::kVerified;
            return verify_report_object(env, *report);
          },
          {info[2]});
    });
  }

  // treeInfo() -> { entries, files, bytes, allocatedBytes, warnings[], skippedSystemXattrs, expectedSystemXattrs,
  // systemXattrPaths[], excluded[] }
  Napi::Value TreeInfo(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      if (!tree_ || stage_ == Stage::kWalking) throw call_order_fault("treeInfo() called out of order");
      walk_over("treeInfo");
      if (walk_summary_) return summary_value(info.Env(), *walk_summary_);
      return summary_value(info.Env(), summarize(*tree_));
    });
  }

  // What treeInfo() tells, taken on the walk's thread for an overlapped walk (before its feed closes: once the
  // data phase may end, its writer marks dropped files in the tree).
  struct WalkSummary {
    uint64_t entries = 0, files = 0, bytes = 0, stored = 0, skipped_system_xattrs = 0, expected_system_xattrs = 0;
    std::vector<std::string> system_xattr_paths, warnings, excluded;
  };

  static WalkSummary summarize(const Tree& t) {
    WalkSummary s;
    for (auto& e : t.entries)
      if (S_ISREG(e.mode) && e.link_primary == kNone && !e.skipped) {
        s.files++;
        if (!e.from_base) s.bytes += e.size;         // what the data phase reads
        s.stored += std::min(e.size, e.disk_bytes);  // holes of sparse files are not stored
      }
    s.entries = t.entries.size();
    s.skipped_system_xattrs = t.skipped_system_xattrs;
    s.expected_system_xattrs = t.expected_system_xattrs;
    s.system_xattr_paths = t.system_xattr_paths;
    s.warnings = t.warnings;
    s.excluded = t.excluded;
    return s;
  }

  static Napi::Value summary_value(Napi::Env env, const WalkSummary& s) {
    auto strings = [&](const std::vector<std::string>& v) {
      Napi::Array a = Napi::Array::New(env, v.size());
      for (size_t i = 0; i < v.size(); i++) a.Set(uint32_t(i), v[i]);
      return a;
    };
    Napi::Object o = Napi::Object::New(env);
    o.Set("entries", double(s.entries));
    o.Set("files", double(s.files));
    o.Set("bytes", double(s.bytes));
    o.Set("allocatedBytes", double(s.stored));
    o.Set("skippedSystemXattrs", double(s.skipped_system_xattrs));
    o.Set("expectedSystemXattrs", double(s.expected_system_xattrs));
    o.Set("systemXattrPaths", strings(s.system_xattr_paths));
    o.Set("warnings", strings(s.warnings));
    o.Set("excluded", strings(s.excluded));
    return o;
  }

  // imagePaths() -> { paths[], dirs, fromBase }: for exclusion patterns matched in JS (only called when there are
  // some).
  Napi::Value ImagePaths(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      if (!tree_ || stage_ == Stage::kWalking) throw call_order_fault("imagePaths() called out of order");
      walk_over("imagePaths");
      Napi::Env env = info.Env();
      Napi::Array paths = Napi::Array::New(env, tree_->entries.size());
      Napi::Uint8Array dirs = Napi::Uint8Array::New(env, tree_->entries.size());
      Napi::Uint8Array from_base = Napi::Uint8Array::New(env, tree_->entries.size());
      for (uint32_t i = 0; i < tree_->entries.size(); i++) {
        paths.Set(i, tree_->image_path(i));
        dirs[i] = S_ISDIR(tree_->entries[i].mode) ? 1 : 0;
        from_base[i] = tree_->entries[i].from_base ? 1 : 0;
      }
      Napi::Object o = Napi::Object::New(env);
      o.Set("paths", paths);
      o.Set("dirs", dirs);
      o.Set("fromBase", from_base);
      return o;
    });
  }

  // matchRegex([{ anchored, floating (null: none), nonDirOnly }]) -> Promise<{ entries: Uint32Array, paths, hits }>:
  // the entries each -regex pattern matches (traverse/pattern_match.h), their image paths, and per pattern how
  // many it matched. Off the main thread; the cancel flag stops it.
  Napi::Value MatchRegex(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      expect(Stage::kWalked, "matchRegex");
      walk_over("matchRegex");
      std::vector<RegexPattern> patterns;
      Napi::Array a = info[0].As<Napi::Array>();
      auto strings = [](const Napi::Value& v) {
        std::vector<std::string> out;
        if (!v.IsArray()) return out;
        Napi::Array arr = v.As<Napi::Array>();
        for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(arr.Get(i).ToString().Utf8Value());
        return out;
      };
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Object p = a.Get(i).As<Napi::Object>();
        RegexPattern rp;
        rp.anchored = strings(p.Get("anchored"));
        rp.has_floating = p.Get("floating").IsArray();
        rp.floating = strings(p.Get("floating"));
        rp.non_dir_only = p.Get("nonDirOnly").ToBoolean().Value();
        patterns.push_back(std::move(rp));
      }
      stage_ = Stage::kWalking;  // nothing else may touch the tree meanwhile
      auto result = std::make_shared<PatternMatches>();
      return AsyncJob::start(
          info.Env(), [this, patterns, result]() { *result = match_regex(*tree_, patterns, cancel_); },
          [this, result](Napi::Env env) -> Napi::Value {
            stage_ = Stage::kWalked;
            Napi::Object o = Napi::Object::New(env);
            Napi::Uint32Array entries = Napi::Uint32Array::New(env, result->entries.size());
            Napi::Array paths = Napi::Array::New(env, result->entries.size());
            for (size_t k = 0; k < result->entries.size(); k++) {
              entries[k] = result->entries[k];
              paths.Set(uint32_t(k), tree_->image_path(result->entries[k]));
            }
            Napi::Array hits = Napi::Array::New(env, result->hits.size());
            for (size_t k = 0; k < result->hits.size(); k++) hits.Set(uint32_t(k), double(result->hits[k]));
            o.Set("entries", entries);
            o.Set("paths", paths);
            o.Set("hits", hits);
            return o;
          });
    });
  }

  // leaveOut(indices: Uint32Array): those entries and everything below them are left out.
  Napi::Value LeaveOut(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      expect(Stage::kWalked, "leaveOut");
      walk_over("leaveOut");
      size_t n = 0;
      const uint32_t* idx = static_cast<const uint32_t*>(typed_array_arg(info, 0, napi_uint32_array, 0, "indices", &n));
      for (size_t k = 0; k < n; k++) {
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
    o.Set("reusedFiles", double(d.reused));
    o.Set("duplicateBytes", double(d.duplicate_bytes));
    o.Set("bytesRead", double(d.bytes_read));
    o.Set("dataBlocks", double(d.blocks));
    o.Set("sparseBlocks", double(d.sparse_blocks));
    o.Set("dataBytes", double(data_->data_end()));
    Napi::Array changed = Napi::Array::New(env, d.changed.size());
    for (size_t i = 0; i < d.changed.size(); i++)
      changed.Set(uint32_t(i), printable(tree_->path(d.changed[i])));  // for messages: escaped
    o.Set("changedFiles", changed);
    Napi::Array skipped = Napi::Array::New(env, tree_->skipped.size());
    for (size_t i = 0; i < tree_->skipped.size(); i++) {
      Napi::Object sk = Napi::Object::New(env);
      sk.Set("path", printable(tree_->skipped[i].path));  // for messages: escaped
      sk.Set("code", tree_->skipped[i].code);
      skipped.Set(uint32_t(i), sk);
    }
    o.Set("skipped", skipped);
    // Files the base was to give whose stored blocks did not match their digests: read again.
    Napi::Array damaged = Napi::Array::New(env, d.base_damaged.size());
    for (size_t i = 0; i < d.base_damaged.size(); i++) damaged.Set(uint32_t(i), tree_->path(d.base_damaged[i]));
    o.Set("baseDamaged", damaged);
    o.Set("recordBytes", double(s.record_bytes));
    o.Set("metadataBlocks", double(s.metadata_blocks));
    o.Set("metadataWaves", double(s.metadata_waves));
    o.Set("tablesCompressCpuMs", double(s.compress_cpu_ns) / 1e6);
    o.Set("tablesSerialCpuMs", double(s.serial_cpu_ns) / 1e6);
    o.Set("tablesParallelCpuMs", double(s.parallel_cpu_ns) / 1e6);
    return o;
  }

  ImageOptions opts_;
  CancelFlag cancel_;
  Napi::ObjectReference cancel_ref_;
  std::unique_ptr<Tree> tree_;
  std::unique_ptr<PlanFeed> feed_;  // an overlapped walk's files, for the planner
  std::atomic<bool> walking_{false};
  std::unique_ptr<WalkSummary> walk_summary_;  // an overlapped walk's treeInfo()
  std::unique_ptr<BaseOpen> base_open_;        // openBase(): the descriptor useBase() reads
  std::string base_path_;
  std::unique_ptr<BaseImage> base_;  // --base, when used
  bool base_tried_ = false;
  std::unique_ptr<DataWriter> data_;
  std::unique_ptr<OrderedWriter> ordered_;
  std::unique_ptr<TaskPlanner> planner_;
  std::shared_ptr<DataEngine> engine_;  // also in the engine registry (by engine_id_) during the data phase
  uint32_t engine_id_ = 0;
  Stage stage_ = Stage::kNew;
  int fd_ = -1;
  std::vector<uint32_t> numbers_;  // entry index -> inode number, from finish() (for verifyWritten)
};

}  // namespace

Napi::Function define_image_builder(Napi::Env env) { return ImageBuilder::Define(env); }

}  // namespace casper
