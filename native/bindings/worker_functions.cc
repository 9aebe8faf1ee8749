// The pool's side of the data phase: runData inside a piscina worker (synchronously, with the compressor
// that worker keeps), runDataAsync on libuv's pool; and the codecs as plain functions.
// Each worker (one Node environment) keeps its own compressor instances.
#include <napi.h>

#include <map>
#include <memory>

#include "bindings/async_job.h"
#include "bindings/js_error.h"
#include "bindings/js_values.h"
#include "data/block_reader.h"
#include "image/data_engine.h"
#include "util/error.h"

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

std::shared_ptr<DataEngine> engine_of(const Napi::Value& id) {
  std::shared_ptr<DataEngine> e = engine_by_id(id.ToNumber().Uint32Value());
  if (!e) throw call_order_fault("no data phase with this id is running");
  return e;
}

// runData(engineId, spec) -> undefined: this worker's share of the data phase (image/data_engine.h), with
// its cached compressor; returns once the data section is complete. Throws the phase's first failure.
Napi::Value RunData(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    std::shared_ptr<DataEngine> engine = engine_of(info[0]);
    engine->work(compressor_for(info.Env(), info[1].As<Napi::Object>()));
    return info.Env().Undefined();
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

// runDataAsync(engineId, spec) -> Promise<undefined>: the same on one of libuv's threads, for jobs that start no
// worker pool, with one compressor for the whole phase. Rejects with the phase's first failure.
Napi::Value RunDataAsync(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    std::shared_ptr<DataEngine> engine = engine_of(info[0]);
    CompressorConfig cfg = compressor_config(info[1].As<Napi::Object>());
    return AsyncJob::start(
        info.Env(),
        [engine, cfg]() {
          std::unique_ptr<Compressor> comp = make_compressor(cfg);
          engine->work(*comp);
        },
        [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
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
  exports.Set("runData", Napi::Function::New(env, RunData, "runData"));
  exports.Set("runDataAsync", Napi::Function::New(env, RunDataAsync, "runDataAsync"));
  exports.Set("compress", Napi::Function::New(env, Compress, "compress"));
  exports.Set("decompress", Napi::Function::New(env, Decompress, "decompress"));
  exports.Set("checkCompressor", Napi::Function::New(env, CheckCompressor, "checkCompressor"));
}

}  // namespace casper
