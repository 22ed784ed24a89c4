// The libcurl Transport. One pool of easy handles per (CA bundle, client identity): an easy handle
// keeps its connections and TLS session cache, so reuse only ever happens between requests that
// present the same client certificate to the same trust roots.
//
// Proxies come from the usual environment variables (http_proxy, https_proxy, no_proxy), read by
// libcurl itself; certrotd code does not read the environment.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "http/curl_handles.hpp"
#include "http/transport.hpp"

namespace certrotd::http {

class CurlTransport final : public Transport {
public:
  // Fails only when libcurl cannot be initialised or lacks a feature certrotd relies on
  // (in-memory certificates need libcurl >= 7.77 with OpenSSL).
  static Result<std::unique_ptr<CurlTransport>> create(std::size_t max_idle_handles = 8);
  ~CurlTransport() override;

  HttpResult<Response> perform(const Request& request) override;
  void forget_identity(const std::string& identity_id) override;

private:
  explicit CurlTransport(std::size_t max_idle_handles);
  struct Idle {
    std::string pool_key;
    std::string identity_id;
    CurlEasy handle;
  };
  CurlEasy take(const std::string& pool_key);
  void give_back(std::string pool_key, std::string identity_id, CurlEasy handle);

  std::size_t m_max_idle;
  std::mutex m_mutex;
  std::list<Idle> m_idle;  // most recently used first
};

}  // namespace certrotd::http
