#include "common/tls/tls_files.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tls/openssl_ptr.h"

namespace genfarm::tls {
namespace {

std::string Where(const NamedFile& file) { return absl::StrCat(file.flag, " ", file.path); }

OpenSslPtr<BIO> MemoryBio(const std::string& text) {
  return OpenSslPtr<BIO>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// The key must be the certificate's: a swapped key otherwise fails every handshake with an
// error that names neither file.
absl::Status CheckKeyMatches(const TlsPem& pem, const TlsFiles& files) {
  auto cert_bio = MemoryBio(pem.cert_chain);
  OpenSslPtr<X509> cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(files.cert), ": not a readable PEM certificate"));
  }
  auto key_bio = MemoryBio(pem.private_key);
  OpenSslPtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(files.key), ": not a readable PEM private key (encrypted keys are not supported)"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(files.key), " is not the private key of ", Where(files.cert)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(const NamedFile& file, absl::string_view block) {
  std::ifstream in(file.path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(Where(file), ": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string pem = text.str();
  const std::string begin = "-----BEGIN ";
  const std::string end = absl::StrCat(block, "-----");
  const size_t at = pem.find(begin);
  if (at == std::string::npos || pem.find(end, at) == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(file), ": no PEM ", block, " block in it"));
  }
  return pem;
}

absl::StatusOr<TlsPem> LoadTlsFiles(const TlsFiles& files) {
  TlsPem pem;
  if (files.cert.path.empty() != files.key.path.empty()) {
    const NamedFile& given = files.cert.path.empty() ? files.key : files.cert;
    const NamedFile& missing = files.cert.path.empty() ? files.cert : files.key;
    return absl::InvalidArgumentError(
        absl::StrCat(given.flag, " is given without ", missing.flag, ": both or neither"));
  }
  if (!files.cert.path.empty()) {
    GENFARM_ASSIGN_OR_RETURN(pem.cert_chain, ReadPemFile(files.cert, "CERTIFICATE"));
    GENFARM_ASSIGN_OR_RETURN(pem.private_key, ReadPemFile(files.key, "PRIVATE KEY"));
    GENFARM_RETURN_IF_ERROR(CheckKeyMatches(pem, files));
    pem.cert_path = files.cert.path;
    pem.key_path = files.key.path;
  }
  if (!files.ca.path.empty()) {
    GENFARM_ASSIGN_OR_RETURN(pem.ca, ReadPemFile(files.ca, "CERTIFICATE"));
    pem.ca_path = files.ca.path;
  }
  return pem;
}

}  // namespace genfarm::tls
