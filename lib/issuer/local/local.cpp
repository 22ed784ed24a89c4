#include "issuer/local/local.hpp"

#include <algorithm>

#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "util/files.hpp"
#include "util/secret.hpp"
#include "x509/csr.hpp"
#include "x509/sign.hpp"
#include "x509/verify.hpp"

namespace certrotd::issuer {

struct LocalIssuer::Material {
  x509::Certificate ca_cert;
  x509::PrivateKey ca_key;
  // What follows the leaf in an issued chain: the signing CA unless it is the root, then the
  // configured `chain` certificates.
  std::vector<x509::Certificate> chain;
  std::vector<x509::Certificate> roots;
};

namespace {

// The error of a parse step, pinned to the file it came from.
Error in_file(Error e, const std::filesystem::path& path, const std::string& what) {
  e.context = path.string();
  e.kind = ErrorKind::permanent;
  return e.wrap(what);
}

Result<std::vector<x509::Certificate>> load_certificates(const std::filesystem::path& path,
                                                         const std::string& what) {
  auto text = read_file(path);
  if (!text) return fail(text.error().wrap("cannot read " + what));
  auto certs = x509::parse_certificates(*text);
  if (!certs) return fail(in_file(certs.error(), path, "invalid " + what));
  return certs;
}

bool is_self_signed(const x509::Certificate& cert) { return X509_self_signed(cert.get(), 0) == 1; }

bool may_sign_certificates(const x509::Certificate& cert) {
  // X509_get_key_usage reports "all usages" when the extension is absent, as RFC 5280 reads it.
  return cert.info().is_ca &&
         (X509_get_key_usage(cert.get()) & static_cast<std::uint32_t>(KU_KEY_CERT_SIGN)) != 0;
}

bool names_anything(const x509::CertificateRequest& request) {
  return request.subject != x509::Subject{} || !request.sans.empty() || !request.usages.empty();
}

}  // namespace

LocalIssuer::LocalIssuer(LocalIssuerOptions options, const Clock& clock, Random& random)
    : m_options(std::move(options)), m_clock(clock), m_random(random) {}

Result<std::unique_ptr<LocalIssuer>> LocalIssuer::create(const LocalIssuerOptions& options,
                                                         const Clock& clock, Random& random) {
  auto ca_certs = load_certificates(options.ca_cert, "CA certificate");
  if (!ca_certs) return fail(ca_certs.error());
  const x509::Certificate ca_cert = ca_certs->front();

  std::optional<Secret> passphrase;  // wiped when this function returns
  if (options.ca_key_passphrase_file) {
    auto pass = read_secret_file(*options.ca_key_passphrase_file, "CA key passphrase file");
    if (!pass) return fail(pass.error());
    passphrase = std::move(*pass);
  }
  auto key_text = read_file(options.ca_key);
  if (!key_text) return fail(key_text.error().wrap("cannot read the CA key"));
  auto ca_key = x509::parse_private_key(
      *key_text, passphrase ? std::optional<std::string_view>(passphrase->view()) : std::nullopt);
  OPENSSL_cleanse(key_text->data(), key_text->size());
  if (!ca_key) return fail(in_file(ca_key.error(), options.ca_key, "invalid CA key"));

  if (!x509::key_matches(*ca_key, ca_cert)) {
    return fail("the CA key does not belong to the CA certificate " + options.ca_cert.string(),
                options.ca_key.string());
  }
  if (!may_sign_certificates(ca_cert)) {
    return fail("not a CA certificate (needs basicConstraints CA:TRUE and keyUsage keyCertSign)",
                options.ca_cert.string());
  }

  // Certificates between the signing CA and the root.
  std::vector<x509::Certificate> above;
  if (options.chain) {
    auto extra = load_certificates(*options.chain, "CA chain");
    if (!extra) return fail(extra.error());
    for (auto& cert : *extra) {
      // Listing the signing CA itself in `chain` is a natural mistake; do not send it twice.
      if (!cert.same_as(ca_cert)) above.push_back(std::move(cert));
    }
  }

  std::vector<x509::Certificate> roots;
  const bool self_signed = is_self_signed(ca_cert);
  if (options.roots) {
    auto loaded = load_certificates(*options.roots, "CA roots");
    if (!loaded) return fail(loaded.error());
    roots = std::move(*loaded);
  } else if (self_signed) {
    roots.push_back(ca_cert);
  } else {
    return fail("the CA certificate is not self-signed, so `roots` must name its root CA",
                options.ca_cert.string());
  }

  // Catch a wrong chain or roots file now rather than at the first renewal.
  if (auto r = x509::verify_chain(ca_cert, above, roots, {clock.wall_now(), std::nullopt}); !r) {
    return fail(r.error().wrap("the CA certificate does not chain to the configured roots"));
  }

  std::vector<x509::Certificate> chain;
  if (!self_signed) chain.push_back(ca_cert);
  chain.insert(chain.end(), above.begin(), above.end());

  std::unique_ptr<LocalIssuer> issuer(new LocalIssuer(options, clock, random));
  issuer->m_material = std::make_shared<const Material>(
      Material{ca_cert, std::move(*ca_key), std::move(chain), std::move(roots)});
  return issuer;
}

Result<IssuedCredential> LocalIssuer::issue(const IssueRequest& request) {
  const Material& material = *m_material;
  if (!request.csr_pem) {
    return fail("the local issuer signs CSRs and does not generate keys; no CSR was given",
                request.credential);
  }
  auto csr = x509::parse_csr(*request.csr_pem);
  if (!csr) {
    Error e = csr.error().wrap("invalid CSR");
    e.kind = ErrorKind::permanent;
    e.context = request.credential;
    return fail(e);
  }

  Millis lifetime = m_options.lifetime;
  if (request.lifetime) {
    if (*request.lifetime <= Millis::zero()) {
      return fail("the requested lifetime must be positive", request.credential);
    }
    lifetime = std::min(lifetime, *request.lifetime);
  }
  // notAfter - notBefore is the lifetime: the configured limit bounds the whole validity
  // period, and the backdate is taken from it (capped so short-lived certificates keep 90%).
  const Millis backdate = std::clamp(m_options.backdate, Millis::zero(), lifetime / 10);
  const SystemTime now = std::chrono::floor<Seconds>(m_clock.wall_now());
  const SystemTime not_before = now - backdate;
  // A certificate that outlives its issuer would fail validation after the CA expires.
  const SystemTime not_after = std::min(not_before + lifetime, material.ca_cert.info().not_after);
  if (not_after <= now) {
    return fail("the CA certificate has expired", m_options.ca_cert.string());
  }

  x509::SignOptions sign;
  sign.subject_public_key = csr->public_key.get();
  // The configured names are authoritative; a request that names nothing gets what its CSR asks.
  sign.request = names_anything(request.request) ? request.request : csr->request;
  sign.not_before = not_before;
  sign.not_after = not_after;
  sign.issuer_cert = &material.ca_cert;
  sign.issuer_key = &material.ca_key;
  auto leaf = x509::sign_certificate(sign, m_random);
  if (!leaf) return fail(leaf.error().wrap("cannot sign for " + request.credential));

  // A self-check: what goes out must verify with what we tell the credential to trust.
  if (auto r = x509::verify_chain(*leaf, material.chain, material.roots, {now, std::nullopt}); !r) {
    return fail(
        r.error().wrap("issued certificate for " + request.credential + " does not verify"));
  }

  IssuedCredential issued;
  issued.chain.push_back(std::move(*leaf));
  issued.chain.insert(issued.chain.end(), material.chain.begin(), material.chain.end());
  issued.ca = material.roots;
  return issued;
}

}  // namespace certrotd::issuer
