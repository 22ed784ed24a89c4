#include "issuer/local/ca_init.hpp"

#include <system_error>

#include "util/files.hpp"
#include "x509/certificate.hpp"
#include "x509/sign.hpp"

namespace certrotd::issuer {

namespace {

constexpr mode_t k_key_mode = 0600;
constexpr mode_t k_cert_mode = 0644;

// "certrotd development root CA" -> "certrotd development intermediate CA"; other names get
// " intermediate" appended, so the two certificates are never confused in logs.
std::string intermediate_name(const std::string& root_name) {
  constexpr std::string_view k_root_suffix = " root CA";
  if (root_name.ends_with(k_root_suffix)) {
    return root_name.substr(0, root_name.size() - k_root_suffix.size()) + " intermediate CA";
  }
  return root_name + " intermediate";
}

bool path_exists(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::symlink_status(path, ec));
}

struct Issued {
  x509::Certificate cert;
  x509::PrivateKey key;
};

Result<Issued> make_root(const CaInitOptions& options, SystemTime now, Random& random) {
  auto key = x509::generate_key(options.key);
  if (!key) return fail(key.error().wrap("cannot generate the root CA key"));
  x509::SignOptions sign;
  sign.request.subject.common_name = options.common_name;
  sign.not_before = now;
  sign.not_after = now + options.root_lifetime;
  sign.is_ca = true;
  sign.self_key = &*key;
  auto cert = x509::sign_certificate(sign, random);
  if (!cert) return fail(cert.error().wrap("cannot create the root CA certificate"));
  return Issued{std::move(*cert), std::move(*key)};
}

Result<Issued> make_intermediate(const CaInitOptions& options, const Issued& root, SystemTime now,
                                 Random& random) {
  auto key = x509::generate_key(options.key);
  if (!key) return fail(key.error().wrap("cannot generate the intermediate CA key"));
  x509::SignOptions sign;
  sign.subject_public_key = key->get();
  sign.request.subject.common_name = intermediate_name(options.common_name);
  sign.not_before = now;
  // Validity beyond the root's would only produce a chain that fails once the root expires.
  sign.not_after = std::min(now + options.intermediate_lifetime, root.cert.info().not_after);
  sign.is_ca = true;
  // The intermediate signs leaves only, never another CA.
  sign.path_len = 0;
  sign.issuer_cert = &root.cert;
  sign.issuer_key = &root.key;
  auto cert = x509::sign_certificate(sign, random);
  if (!cert) return fail(cert.error().wrap("cannot create the intermediate CA certificate"));
  return Issued{std::move(*cert), std::move(*key)};
}

// New files are created with O_EXCL, so a CA appearing concurrently is not clobbered either;
// with `overwrite` they replace the old ones atomically.
Result<void> write_output(const std::filesystem::path& path, std::string_view data, mode_t mode,
                          bool overwrite) {
  return overwrite ? write_file_atomic(path, data, mode) : write_new_file(path, data, mode);
}

Result<void> write_pair(const Issued& issued, const std::filesystem::path& cert_path,
                        const std::filesystem::path& key_path, bool overwrite) {
  auto key_pem = issued.key.to_pkcs8_pem();
  if (!key_pem) return fail(key_pem.error());
  if (auto r = write_output(key_path, *key_pem, k_key_mode, overwrite); !r) return r;
  return write_output(cert_path, issued.cert.to_pem(), k_cert_mode, overwrite);
}

}  // namespace

Result<CaInitResult> init_ca(const CaInitOptions& options, const Clock& clock, Random& random) {
  if (options.dir.empty()) return fail("ca init: no directory given");
  CaInitResult result;
  result.ca_cert = options.dir / "ca.pem";
  result.ca_key = options.dir / "ca.key";
  if (options.intermediate) {
    result.intermediate_cert = options.dir / "intermediate.pem";
    result.intermediate_key = options.dir / "intermediate.key";
  }
  if (!options.overwrite) {
    for (const auto& path :
         {result.ca_key, result.ca_cert, result.intermediate_key, result.intermediate_cert}) {
      if (!path.empty() && path_exists(path)) {
        return fail("already exists; refusing to replace an existing CA without overwrite",
                    path.string());
      }
    }
  }
  if (auto r = make_dirs(options.dir, 0755); !r) return fail(r.error());

  const SystemTime now = std::chrono::floor<Seconds>(clock.wall_now());
  auto root = make_root(options, now, random);
  if (!root) return fail(root.error());
  std::optional<Issued> intermediate;
  if (options.intermediate) {
    auto made = make_intermediate(options, *root, now, random);
    if (!made) return fail(made.error());
    intermediate = std::move(*made);
  }

  if (auto r = write_pair(*root, result.ca_cert, result.ca_key, options.overwrite); !r) {
    return fail(r.error());
  }
  if (intermediate) {
    if (auto r = write_pair(*intermediate, result.intermediate_cert, result.intermediate_key,
                            options.overwrite);
        !r) {
      return fail(r.error());
    }
  }
  return result;
}

}  // namespace certrotd::issuer
