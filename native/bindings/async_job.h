// The one way a native call runs off the JS thread and settles a promise: `work` on libuv's pool, then `done`
// on the main thread builds the value it resolves with. Every failure rejects it with the typed JS error
// (bindings/js_error.h: code, path, syscall; table and offset for a corrupt image): one captured on the pool
// thread (never thrown across it), or one thrown by `done`. No call resolves with its failure as data; only a
// piscina worker does (src/pipeline/worker.ts), because structured cloning drops an Error's fields.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <vector>

#include "util/error.h"

namespace casper {

class AsyncJob : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;
  // Queues the job; `held` (typed arrays the work reads or writes) stay alive until it settles.
  static Napi::Promise start(Napi::Env env, Work work, Done done, const std::vector<Napi::Value>& held = {});

  void Execute() override;
  void OnOK() override;

 private:
  AsyncJob(Napi::Env env, Work work, Done done);
  Napi::Promise::Deferred deferred_;
  Work work_;
  Done done_;
  std::unique_ptr<NativeError> err_;
  std::vector<Napi::Reference<Napi::Value>> held_;
};

}  // namespace casper
