// Functions called synchronously inside pool workers: read+compress a task, compress a fragment block.
// Each worker (one Node environment) keeps its own compressor instances.
#include <napi.h>

#include <cstring>
#include <map>
#include <memory>

#include "bindings/js_error.h"
#include "bindings/js_values.h"
#include "data/block_reader.h"
#include "data/task_format.h"
#include "util/error.h"
#include "util/bytes.h"

namespace casper {

namespace {

struct WorkerState {
  std::map<std::string, std::unique_ptr<Compressor>> compressors;
};

Compressor& compressor_for(Napi::Env env, const Napi::Object& spec) {
  auto* st = env.GetInstanceData<WorkerState>();
  if (!st) {
    st = new WorkerState();
    env.SetInstanceData(st);  // freed with the environment (the worker's exit)
  }
  CompressorConfig cfg = compressor_config(spec);
  std::string key = cfg.name + "/" + std::to_string(cfg.block_size);
  for (auto& [k, v] : cfg.options) key += "/" + k + "=" + v;
  auto it = st->compressors.find(key);
  if (it == st->compressors.end()) it = st->compressors.emplace(key, make_compressor(cfg)).first;
  return *it->second;
}

CancelFlag cancel_from(const Napi::CallbackInfo& info, size_t i) {
  CancelFlag c;
  if (info.Length() > i && info[i].IsTypedArray()) c.p = reinterpret_cast<const int32_t*>(bytes_of(info[i]).first);
  return c;
}

// readAndCompress(task: ArrayBuffer, spec, cancel?: Int32Array) -> ArrayBuffer
Napi::Value ReadAndCompress(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto [p, n] = bytes_of(info[0]);
    TaskSpec task = decode_task(p, n);
    Compressor& comp = compressor_for(info.Env(), info[1].As<Napi::Object>());
    std::vector<uint8_t> out = read_and_compress(task, comp, cancel_from(info, 2));
    return to_array_buffer(info.Env(), out.data(), out.size());
  });
}

// compressFragment(raw, spec) -> ArrayBuffer: u32 size word (bit 24 = stored raw), then the stored bytes.
// One buffer, so the worker can transfer it back rather than clone it.
Napi::Value CompressFragment(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto [p, n] = bytes_of(info[0]);
    Compressor& comp = compressor_for(info.Env(), info[1].As<Napi::Object>());
    std::vector<uint8_t> out;
    uint32_t word = compress_block(comp, p, n, out);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(info.Env(), out.size() + 4);
    uint8_t* d = static_cast<uint8_t*>(ab.Data());
    store_u32(d, word);
    std::memcpy(d + 4, out.data(), out.size());
    return ab;
  });
}

// compress(bytes, spec) / decompress(bytes, spec, capacity): the codec as a pure function, for tests and tools.
Napi::Value Compress(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto [p, n] = bytes_of(info[0]);
    Compressor& comp = compressor_for(info.Env(), info[1].As<Napi::Object>());
    std::vector<uint8_t> out(n + 1024);
    size_t c = comp.compress(p, n, out.data(), out.size());
    if (c == 0) return info.Env().Null();
    return to_array_buffer(info.Env(), out.data(), c);
  });
}

Napi::Value Decompress(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto [p, n] = bytes_of(info[0]);
    Compressor& comp = compressor_for(info.Env(), info[1].As<Napi::Object>());
    std::vector<uint8_t> out(size_t(info[2].ToNumber().Int64Value()));
    size_t d = comp.decompress(p, n, out.data(), out.size());
    return to_array_buffer(info.Env(), out.data(), d);
  });
}

// For small jobs on the main thread: the same work on libuv's pool, so no worker thread has to start
// (about 170 ms each). One compressor per call: these jobs are small.
class ReadJob : public Napi::AsyncWorker {
 public:
  ReadJob(Napi::Env env, TaskSpec task, CompressorConfig cfg, CancelFlag cancel, Napi::Object keep, bool fragment,
          std::vector<uint8_t> raw)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), task_(std::move(task)), cfg_(std::move(cfg)),
        cancel_(cancel), fragment_(fragment), raw_(std::move(raw)) {
    if (!keep.IsEmpty()) keep_ = Napi::Persistent(keep);
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    err_ = capture_error([this]() {
      auto comp = make_compressor(cfg_);
      if (fragment_) {
        std::vector<uint8_t> packed;
        uint32_t word = compress_block(*comp, raw_.data(), raw_.size(), packed);
        out_.resize(4);
        store_u32(out_.data(), word);
        out_.insert(out_.end(), packed.begin(), packed.end());
      } else {
        out_ = read_and_compress(task_, *comp, cancel_);
      }
    });
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_) {
      deferred_.Resolve(failure_value(env, *err_));
      return;
    }
    deferred_.Resolve(to_array_buffer(env, out_.data(), out_.size()));
  }

 private:
  Napi::Promise::Deferred deferred_;
  TaskSpec task_;
  CompressorConfig cfg_;
  CancelFlag cancel_;
  bool fragment_;
  std::vector<uint8_t> raw_, out_;
  Napi::ObjectReference keep_;
  std::unique_ptr<NativeError> err_;
};

// readAndCompressAsync(task, spec, cancel?) -> Promise<ArrayBuffer | { error }>
Napi::Value ReadAndCompressAsync(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto [p, n] = bytes_of(info[0]);
    Napi::Object keep = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object();
    auto* job = new ReadJob(info.Env(), decode_task(p, n), compressor_config(info[1].As<Napi::Object>()), cancel_from(info, 2), keep, false, {});
    Napi::Promise promise = job->promise();
    job->Queue();
    return promise;
  });
}

// compressFragmentAsync(raw, spec) -> Promise<ArrayBuffer | { error }> (u32 size word, then the bytes)
Napi::Value CompressFragmentAsync(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto [p, n] = bytes_of(info[0]);
    auto* job = new ReadJob(info.Env(), TaskSpec(), compressor_config(info[1].As<Napi::Object>()), CancelFlag(), Napi::Object(), true,
                            std::vector<uint8_t>(p, p + n));
    Napi::Promise promise = job->promise();
    job->Queue();
    return promise;
  });
}

// checkCompressor(spec) -> string: builds the compressor once, so a bad name or option throws (code EINVAL,
// with a readable message) before anything is written; returns its one-line description.
Napi::Value CheckCompressor(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsObject()) throw Napi::TypeError::New(info.Env(), "checkCompressor needs a compressor spec object");
    std::unique_ptr<Compressor> comp = make_compressor(compressor_config(info[0].As<Napi::Object>()));
    return Napi::String::New(info.Env(), comp->describe());
  });
}

}  // namespace

void define_worker_functions(Napi::Env env, Napi::Object exports) {
  exports.Set("readAndCompressAsync", Napi::Function::New(env, ReadAndCompressAsync, "readAndCompressAsync"));
  exports.Set("compressFragmentAsync", Napi::Function::New(env, CompressFragmentAsync, "compressFragmentAsync"));
  exports.Set("readAndCompress", Napi::Function::New(env, ReadAndCompress, "readAndCompress"));
  exports.Set("compressFragment", Napi::Function::New(env, CompressFragment, "compressFragment"));
  exports.Set("compress", Napi::Function::New(env, Compress, "compress"));
  exports.Set("decompress", Napi::Function::New(env, Decompress, "decompress"));
  exports.Set("checkCompressor", Napi::Function::New(env, CheckCompressor, "checkCompressor"));
}

}  // namespace casper
