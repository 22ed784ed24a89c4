// Helpers for tests that need keys, CAs and the openssl CLI (used by unit_x509 and unit_issuer).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <openssl/pem.h>

#include "support/test_support.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/result.hpp"
#include "x509/certificate.hpp"
#include "x509/csr.hpp"
#include "x509/handles.hpp"
#include "x509/sign.hpp"

namespace certrotd::testing {

// The value of a Result; an error ends the test with its message (GoogleTest reports the throw).
template <typename T>
T value_of(Result<T> result, const std::string& what = "unexpected error") {
  if (!result) throw std::runtime_error(what + ": " + result.error().what());
  return std::move(*result);
}

inline CommandResult openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  return run_command(args);
}

// Runs a shell pipeline; only for cross-checks that need one (`... | openssl dgst ...`).
inline CommandResult shell(const std::string& script) { return run_command({"sh", "-c", script}); }

inline std::string epoch_seconds(SystemTime t) {
  return std::to_string(std::chrono::floor<Seconds>(t.time_since_epoch()).count());
}

// A whole-second instant, as certificates store them.
inline SystemTime test_time() {
  return SystemTime{std::chrono::hours(24 * 365 * 56)} + std::chrono::hours(7);
}

struct KeyPair {
  x509::Certificate cert;
  x509::PrivateKey key;
};

inline x509::CertificateRequest named(const std::string& common_name,
                                      std::vector<x509::San> sans = {},
                                      std::vector<x509::ExtendedUsage> usages = {}) {
  x509::CertificateRequest request;
  request.subject.common_name = common_name;
  request.sans = std::move(sans);
  request.usages = std::move(usages);
  return request;
}

inline KeyPair make_root(Random& random, SystemTime not_before, SystemTime not_after,
                         const std::string& name = "Test Root CA",
                         x509::KeySpec spec = x509::KeySpec{}) {
  auto key = value_of(x509::generate_key(spec), "root key");
  x509::SignOptions sign;
  sign.request = named(name);
  sign.not_before = not_before;
  sign.not_after = not_after;
  sign.is_ca = true;
  sign.self_key = &key;
  auto cert = value_of(x509::sign_certificate(sign, random), "root certificate");
  return {std::move(cert), std::move(key)};
}

inline KeyPair issue_from(const KeyPair& issuer, Random& random, x509::CertificateRequest request,
                          SystemTime not_before, SystemTime not_after, bool is_ca = false,
                          x509::KeySpec spec = x509::KeySpec{}) {
  auto key = value_of(x509::generate_key(spec), "subject key");
  x509::SignOptions sign;
  sign.subject_public_key = key.get();
  sign.request = std::move(request);
  sign.not_before = not_before;
  sign.not_after = not_after;
  sign.is_ca = is_ca;
  if (is_ca) sign.path_len = 0;
  sign.issuer_cert = &issuer.cert;
  sign.issuer_key = &issuer.key;
  auto cert = value_of(x509::sign_certificate(sign, random), "issued certificate");
  return {std::move(cert), std::move(key)};
}

// A CSR whose public key was swapped after signing, so its self-signature no longer verifies
// while everything else is well-formed.
inline std::string csr_with_bad_signature(const std::string& good_pem) {
  x509::BioPtr in(BIO_new_mem_buf(good_pem.data(), static_cast<int>(good_pem.size())));
  x509::X509ReqPtr req(PEM_read_bio_X509_REQ(in.get(), nullptr, nullptr, nullptr));
  if (!req) throw std::runtime_error("cannot read the CSR to tamper with");
  auto other = value_of(x509::generate_key(x509::KeySpec{}), "other key");
  if (X509_REQ_set_pubkey(req.get(), other.get()) != 1) throw std::runtime_error("set_pubkey");
  x509::BioPtr out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509_REQ(out.get(), req.get()) != 1) throw std::runtime_error("write CSR");
  std::string pem(BIO_ctrl_pending(out.get()), '\0');
  BIO_read(out.get(), pem.data(), static_cast<int>(pem.size()));
  return pem;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace certrotd::testing
