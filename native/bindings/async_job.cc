#include "bindings/async_job.h"

#include <new>

#include "bindings/js_error.h"

namespace casper {

AsyncJob::AsyncJob(Napi::Env env, Work work, Done done)
    : Napi::AsyncWorker(env),
      deferred_(Napi::Promise::Deferred::New(env)),
      work_(std::move(work)),
      done_(std::move(done)) {}

Napi::Promise AsyncJob::start(Napi::Env env, Work work, Done done, const std::vector<Napi::Value>& held) {
  auto* job = new AsyncJob(env, std::move(work), std::move(done));
  for (const Napi::Value& v : held)
    if (!v.IsEmpty() && v.IsObject()) job->held_.push_back(Napi::Persistent(v));
  Napi::Promise p = job->deferred_.Promise();
  job->Queue();
  return p;
}

void AsyncJob::Execute() { err_ = capture_error(work_); }

void AsyncJob::OnOK() {
  Napi::Env env = Env();
  if (err_) {
    deferred_.Reject(js_error(env, *err_).Value());
    return;
  }
  try {
    deferred_.Resolve(done_(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  } catch (const NativeError& e) {
    deferred_.Reject(js_error(env, e).Value());
  } catch (const std::bad_alloc&) {
    deferred_.Reject(js_error(env, NativeError("ENOMEM", "out of memory")).Value());
  } catch (const std::exception& e) {
    deferred_.Reject(js_error(env, NativeError("EINTERNAL", std::string("internal error: ") + e.what())).Value());
  }
}

}  // namespace casper
