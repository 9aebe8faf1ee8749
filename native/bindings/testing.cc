// exports.testing: in-memory access to the data section's two pure pieces, the TaskPlanner and the OrderedWriter,
// for the unit tests (test/task-planner.test.ts, test/ordered-writer.test.ts). Why it exists: the determinism rule
// (results written in plan order, fragment blocks placed by the plan alone) is otherwise only seen through whole
// images, which need real files, timing luck to reorder results, and root to mount. Here a test builds a tree
// in memory, delivers results in any order it likes and reads the data section back from a memfd. Not part of
// the library's API (src/native/addon.ts does not declare it); nothing in src/ calls it.
#include <napi.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bindings/js_error.h"
#include "bindings/js_values.h"
#include "data/task_format.h"
#include "format/block_word.h"
#include "format/constants.h"
#include "format/integrity_record.h"
#include "image/data_writer.h"
#include "image/ordered_writer.h"
#include "traverse/plan_feed.h"
#include "image/task_planner.h"
#include "traverse/tree.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/hash.h"
#include "util/xxhash64.h"

namespace casper {

namespace {

uint32_t u32_of(const Napi::Object& o, const char* key, uint32_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : fallback;
}

uint64_t u64_of(const Napi::Object& o, const char* key, uint64_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? uint64_t(v.As<Napi::Number>().Int64Value()) : fallback;
}

bool bool_of(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

// { blockSize, fragments?, dedup?, compressor? } as the image builder reads them (compressor defaults to gzip).
ImageOptions test_options(const Napi::Object& o) {
  Napi::Object c = Napi::Object::New(o.Env());
  for (const char* k : {"blockSize", "fragments", "dedup", "compressorOptions"})
    if (o.Has(k)) c.Set(k, o.Get(k));
  c.Set("compressor", o.Has("compressor") ? o.Get("compressor") : Napi::String::New(o.Env(), "gzip"));
  if (!o.Has("blockSize")) c.Set("blockSize", kDefaultBlockSize);
  ImageOptions io = image_options(c);
  io.output_path = "<memfd>";
  return io;
}

// A tree of files (JS index i is entry i + 1), all children of the root, named f000000, f000001, … so that
// the children are sorted. files[i]: { size?, diskBytes?, fromBase?, hardlinkOf? (a JS index), dir? }.
Tree test_tree(const Napi::Array& files) {
  Tree t;
  t.root_path = "/nonexistent-test-tree";
  Entry root;
  root.mode = S_IFDIR | 0755;
  root.first_child = 1;
  root.child_count = files.Length();
  t.entries.push_back(root);
  for (uint32_t i = 0; i < files.Length(); i++) {
    Napi::Object f = files.Get(i).As<Napi::Object>();
    Entry e;
    e.parent = 0;
    char name[16];
    std::snprintf(name, sizeof name, "f%06u", i);
    e.name_off = uint32_t(t.arena.size());
    e.name_len = uint32_t(std::strlen(name));
    t.arena += name;
    if (bool_of(f, "dir")) {
      e.mode = S_IFDIR | 0755;
    } else {
      e.mode = S_IFREG | 0644;
      e.size = u64_of(f, "size", 0);
      e.disk_bytes = u64_of(f, "diskBytes", (e.size + 4095) / 4096 * 4096);
      e.from_base = bool_of(f, "fromBase");
      if (f.Get("hardlinkOf").IsNumber()) {
        e.link_primary = u32_of(f, "hardlinkOf", 0) + 1;
      } else if (e.size > 0) {
        FileStamp s;
        s.ino = i + 1;
        s.size = e.size;
        e.stamp = uint32_t(t.stamps.size());
        t.stamps.push_back(s);
      }
    }
    t.entries.push_back(e);
  }
  return t;
}

Napi::Object task_value(Napi::Env env, const TaskSpec& task, uint64_t bytes) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("seq", task.seq);
  o.Set("startsFile", task.starts_file);
  o.Set("bytes", double(bytes));
  Napi::Array segs = Napi::Array::New(env, task.segments.size());
  for (size_t i = 0; i < task.segments.size(); i++) {
    const SegmentSpec& s = task.segments[i];
    Napi::Object so = Napi::Object::New(env);
    so.Set("file", s.file - 1);
    so.Set("offset", double(s.offset));
    so.Set("length", double(s.length));
    so.Set("last", s.last);
    so.Set("tailFragment", s.tail_fragment);
    so.Set("maybeSparse", s.maybe_sparse);
    so.Set("rel", s.rel);
    segs.Set(uint32_t(i), so);
  }
  o.Set("segments", segs);
  return o;
}

// planTasks(options, files, taskBytes, feedChunks?) -> [{ seq, startsFile, bytes, segments: [{ file, offset, length,
// last, tailFragment, maybeSparse, rel }] }]: the whole plan, as the data engine draws it task by task. With
// feedChunks (numbers of entries), the files come through a PlanFeed as a walk would publish them, chunk after
// chunk, the planner drawing until it must wait before each next chunk: the plan must be the same.
Napi::Value PlanTasks(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    ImageOptions opts = test_options(info[0].As<Napi::Object>());
    Tree tree = test_tree(info[1].As<Napi::Array>());
    uint64_t task_bytes = uint64_t(info[2].As<Napi::Number>().Int64Value());
    Napi::Array out = Napi::Array::New(env);
    TaskSpec task;
    uint64_t bytes = 0;
    if (!info[3].IsArray()) {
      TaskPlanner planner(opts, tree);
      for (;;) {
        TaskPlanner::Next n = planner.next(task_bytes, task, &bytes);
        if (n == TaskPlanner::Next::kDone) break;
        if (n != TaskPlanner::Next::kTask) throw NativeError("EINTERNAL", "a planner over a whole tree waited");
        out.Set(out.Length(), task_value(env, task, bytes));
      }
      if (planner.planned() != out.Length()) throw NativeError("EINTERNAL", "planned() disagrees with the tasks drawn");
      return out;
    }
    Napi::Array chunks = info[3].As<Napi::Array>();
    PlanFeed feed;
    feed.set_root_fd(tree.data_fd.get());
    TaskPlanner planner(opts, feed);
    uint32_t entry = 0;
    for (uint32_t c = 0; c <= chunks.Length(); c++) {
      uint32_t upto = c < chunks.Length() ? std::min<uint32_t>(uint32_t(tree.entries.size()),
                                                               entry + chunks.Get(c).As<Napi::Number>().Uint32Value())
                                          : uint32_t(tree.entries.size());
      std::vector<FeedFile> files;
      for (; entry < upto; entry++) {
        const Entry& e = tree.entries[entry];
        if (!has_data(e) || e.from_base) continue;
        files.push_back(FeedFile{entry, e.size, e.disk_bytes, tree.stamps[e.stamp], tree.data_rel(entry)});
      }
      feed.publish(std::move(files));
      if (c == chunks.Length()) feed.close();
      for (;;) {
        TaskPlanner::Next n = planner.next(task_bytes, task, &bytes);
        if (n == TaskPlanner::Next::kTask) {
          out.Set(out.Length(), task_value(env, task, bytes));
          continue;
        }
        if (n == TaskPlanner::Next::kFailed) throw NativeError("EINTERNAL", "the feed failed");
        if (n == TaskPlanner::Next::kDone && c != chunks.Length())
          throw NativeError("EINTERNAL", "the planner ended before the feed was closed");
        break;
      }
    }
    if (planner.planned() != out.Length()) throw NativeError("EINTERNAL", "planned() disagrees with the tasks drawn");
    return out;
  });
}

// One task's result as the block reader would return it, from the segments' bytes given in JS and every block
// stored raw (size word with bit 24): { seq, startsFile, segments: [{ file, offset, length, last, data?
// (the segment's bytes), status? ('failed' | 'replaced'), error?, changed? }] }.
TaskResult make_result(const ImageOptions& opts, const Tree& tree, const Napi::Object& r) {
  TaskResult out;
  out.seq = u32_of(r, "seq", 0);
  out.starts_file = bool_of(r, "startsFile");
  Napi::Array segs = r.Get("segments").As<Napi::Array>();
  out.segments.resize(segs.Length());
  const uint32_t bs = opts.block_size;
  for (uint32_t i = 0; i < segs.Length(); i++) {
    Napi::Object so = segs.Get(i).As<Napi::Object>();
    SegmentResult& s = out.segments[i];
    s.file = u32_of(so, "file", 0) + 1;
    if (s.file >= tree.entries.size())
      throw NativeError("EINVAL", "test result names file " + std::to_string(s.file - 1) + ", not in the tree");
    s.offset = u64_of(so, "offset", 0);
    s.length = u64_of(so, "length", 0);
    s.file_size = tree.entries[s.file].size;
    s.last = bool_of(so, "last");
    s.changed = bool_of(so, "changed");
    std::string status = so.Get("status").IsString() ? so.Get("status").ToString().Utf8Value() : "read";
    if (status != "read") {
      s.status = status == "replaced" ? SegmentStatus::kReplaced : SegmentStatus::kFailed;
      s.error = int32_t(u32_of(so, "error", ENOENT));
      s.rel = tree.data_rel(s.file);
      continue;
    }
    auto [p, n] = bytes_of(so.Get("data"));
    if (n != s.length)
      throw NativeError("EINVAL", "test segment data is " + std::to_string(n) + " bytes, not its length");
    const bool tail_fragment = tail_in_fragment(opts, tree.entries[s.file].size);
    for (uint64_t pos = 0; pos < n; pos += bs) {
      size_t len = size_t(std::min<uint64_t>(bs, n - pos));
      const uint64_t index = (s.offset + pos) / bs;
      bool zero = false;
      uint64_t h = block_content_hash(p + pos, len, &zero);
      s.hash = hash_combine(s.hash, h);
      s.digest += digest_term(h, index);
      if (s.last && tail_fragment && len < bs) {
        s.tail.assign(p + pos, p + pos + len);
        s.tail_term = content_term(h, index);
      } else if (zero) {
        s.block_words.push_back(0);
        s.sparse_bytes += len;
      } else {
        s.block_words.push_back(block_word(uint32_t(len), true));
        s.data.insert(s.data.end(), p + pos, p + pos + len);
        s.stored_digests.push_back(xxh64(p + pos, len));  // what a worker records for the integrity record
        s.terms.push_back(content_term(h, index));
      }
    }
  }
  return out;
}

Napi::Array closed_value(Napi::Env env, const std::vector<ClosedFragment>& closed) {
  Napi::Array a = Napi::Array::New(env, closed.size());
  for (size_t i = 0; i < closed.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", closed[i].index);
    o.Set("raw", Napi::Buffer<uint8_t>::Copy(env, closed[i].raw->data(), closed[i].raw->size()));
    a.Set(uint32_t(i), o);
  }
  return a;
}

// An OrderedWriter over a DataWriter that writes into a memfd (the data section starts at offset 0).
class OrderedWriterHarness : public Napi::ObjectWrap<OrderedWriterHarness> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "OrderedWriterHarness",
                       {InstanceMethod<&OrderedWriterHarness::AddResult>("addResult"),
                        InstanceMethod<&OrderedWriterHarness::AddFragment>("addFragment"),
                        InstanceMethod<&OrderedWriterHarness::End>("end"),
                        InstanceMethod<&OrderedWriterHarness::AddAllThreaded>("addAllThreaded"),
                        InstanceMethod<&OrderedWriterHarness::State>("state"),
                        InstanceMethod<&OrderedWriterHarness::Section>("section")});
  }

  // new OrderedWriterHarness(options, files)
  OrderedWriterHarness(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OrderedWriterHarness>(info) {
    guarded(info.Env(), [&]() -> Napi::Value {
      opts_ = test_options(info[0].As<Napi::Object>());
      tree_ = test_tree(info[1].As<Napi::Array>());
      fd_ = Fd(::memfd_create("casper-ordered-writer-test", MFD_CLOEXEC));
      if (!fd_.valid()) throw sys_error(errno, "memfd_create", "");
      data_ = std::make_unique<DataWriter>(opts_, tree_, fd_.get(), 0);
      writer_ = std::make_unique<OrderedWriter>(*data_);
      return info.Env().Undefined();
    });
  }

  ~OrderedWriterHarness() override {
    if (data_) data_->stop_write_behind();
  }

 private:
  // addResult(result) -> closed fragments [{ index, raw }]
  Napi::Value AddResult(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      return closed_value(info.Env(), writer_->add_result(make_result(opts_, tree_, info[0].As<Napi::Object>())));
    });
  }

  // addFragment(index, word, bytes) -> closed fragments
  Napi::Value AddFragment(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto [p, n] = bytes_of(info[2]);
      return closed_value(info.Env(), writer_->add_fragment(info[0].As<Napi::Number>().Uint32Value(),
                                                            info[1].As<Napi::Number>().Uint32Value(),
                                                            std::vector<uint8_t>(p, p + n), xxh64(p, n)));
    });
  }

  // end(planned) -> closed fragments
  Napi::Value End(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      return closed_value(info.Env(), writer_->end(info[0].As<Napi::Number>().Uint32Value()));
    });
  }

  // addAllThreaded(results, threads): `threads` threads take the results in array order, as the data engine's
  // pool threads do, each storing raw (bit 24) the fragment blocks its own calls closed. Throws the first failure.
  Napi::Value AddAllThreaded(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      Napi::Array results = info[0].As<Napi::Array>();
      uint32_t threads = std::max(1u, info[1].As<Napi::Number>().Uint32Value());
      std::vector<TaskResult> made;
      for (uint32_t i = 0; i < results.Length(); i++)
        made.push_back(make_result(opts_, tree_, results.Get(i).As<Napi::Object>()));
      std::atomic<size_t> next{0};
      std::mutex mu;
      std::exception_ptr failure;
      auto work = [&]() {
        try {
          for (size_t i = next++; i < made.size(); i = next++) {
            std::vector<ClosedFragment> closed = writer_->add_result(std::move(made[i]));
            while (!closed.empty()) {
              ClosedFragment f = std::move(closed.back());
              closed.pop_back();
              uint32_t word = block_word(uint32_t(f.raw->size()), true);
              const uint64_t digest = xxh64(f.raw->data(), f.raw->size());
              for (auto& more : writer_->add_fragment(f.index, word, std::vector<uint8_t>(*f.raw), digest))
                closed.push_back(std::move(more));
            }
          }
        } catch (...) {
          std::lock_guard<std::mutex> l(mu);
          if (!failure) failure = std::current_exception();
        }
      };
      std::vector<std::thread> pool;
      for (uint32_t t = 0; t < threads; t++) pool.emplace_back(work);
      for (auto& t : pool) t.join();
      if (failure) std::rethrow_exception(failure);
      return info.Env().Undefined();
    });
  }

  // state() -> { tasksWritten, done }
  Napi::Value State(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      WriterState s = writer_->state();
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("tasksWritten", s.tasks_written);
      o.Set("done", s.done);
      return o;
    });
  }

  // section() -> { bytes, words, fragments: [{ start, word }], files: [{ blocksStart, firstWord, nblocks,
  // fragment (-1: none), fragmentOffset, sparse } | null], skipped: [path] }: the data section as written.
  Napi::Value Section(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Napi::Object o = Napi::Object::New(env);
      std::vector<uint8_t> bytes(size_t(data_->data_end()));
      if (!bytes.empty()) pread_full(fd_.get(), bytes.data(), bytes.size(), 0, opts_.output_path);
      o.Set("bytes", Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size()));
      const auto& words = data_->words();
      Napi::Array w = Napi::Array::New(env, words.size());
      for (size_t i = 0; i < words.size(); i++) w.Set(uint32_t(i), words[i]);
      o.Set("words", w);
      const auto& frags = data_->fragments();
      Napi::Array fr = Napi::Array::New(env, frags.size());
      for (size_t i = 0; i < frags.size(); i++) {
        Napi::Object f = Napi::Object::New(env);
        f.Set("start", double(frags[i].start));
        f.Set("word", frags[i].word);
        fr.Set(uint32_t(i), f);
      }
      o.Set("fragments", fr);
      const auto& files = data_->files();
      Napi::Array fa = Napi::Array::New(env, files.size() - 1);
      for (size_t i = 1; i < files.size(); i++) {
        const FileData& d = files[i];
        Napi::Object f = Napi::Object::New(env);
        f.Set("blocksStart", double(d.blocks_start));
        f.Set("firstWord", d.first_word);
        f.Set("nblocks", d.nblocks);
        f.Set("fragment", d.fragment == kNoFragment ? -1.0 : double(d.fragment));
        f.Set("fragmentOffset", d.fragment_offset);
        f.Set("sparse", double(d.sparse));
        f.Set("skipped", tree_.entries[i].skipped);
        fa.Set(uint32_t(i - 1), f);
      }
      o.Set("files", fa);
      Napi::Array sk = Napi::Array::New(env, tree_.skipped.size());
      for (size_t i = 0; i < tree_.skipped.size(); i++)
        sk.Set(uint32_t(i), tree_.skipped[i].path + " " + tree_.skipped[i].code);
      o.Set("skipped", sk);
      return o;
    });
  }

  ImageOptions opts_;
  Tree tree_;
  Fd fd_;
  std::unique_ptr<DataWriter> data_;
  std::unique_ptr<OrderedWriter> writer_;
};

}  // namespace

void define_testing(Napi::Env env, Napi::Object exports) {
  Napi::Object t = Napi::Object::New(env);
  t.Set("planTasks", Napi::Function::New(env, PlanTasks, "planTasks"));
  t.Set("kFragmentLag", OrderedWriter::kFragmentLag);
  t.Set("OrderedWriterHarness", OrderedWriterHarness::Define(env));
  exports.Set("testing", t);
}

}  // namespace casper
