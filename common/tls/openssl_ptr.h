// OpenSslPtr: std::unique_ptr for the OpenSSL objects common/tls holds, with the one deleter
// that knows each type's free function.
//
//   OpenSslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
//   OpenSslPtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
#ifndef GENFARM_COMMON_TLS_OPENSSL_PTR_H_
#define GENFARM_COMMON_TLS_OPENSSL_PTR_H_

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

namespace genfarm::tls {

struct OpenSslFree {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
  void operator()(SSL* p) const { SSL_free(p); }
  void operator()(char* p) const { OPENSSL_free(p); }  // strings OpenSSL allocated
};

template <typename T>
using OpenSslPtr = std::unique_ptr<T, OpenSslFree>;

}  // namespace genfarm::tls

#endif  // GENFARM_COMMON_TLS_OPENSSL_PTR_H_
