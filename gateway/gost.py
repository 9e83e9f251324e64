"""GOST 34.10-2015 keys and signatures as NCA and Kalkan lay them out (docs/gost.md).

GOST 34.10-2015 and 34.11-2015 are Kazakhstan's adoptions of GOST R 34.10-2012 and 34.11-2012
(Streebog). The maths is ``gostcrypto``'s; this module owns only what the library cannot know:
which curve an NCA key names, and the byte order of every value on the wire. ``gostcrypto``
reads and writes big-endian integers; NCA and Kalkan write little-endian ones:

- private key: a 64-byte (32 for 256-bit) little-endian integer in an OCTET STRING, inside the
  PKCS#8 ``privateKey`` OCTET STRING;
- public key: X‖Y, each coordinate little-endian, in an OCTET STRING inside the SPKI BIT STRING;
- the hash number e: the Streebog output bytes (as every implementation returns them) read
  little-endian;
- signature value: r‖s, each little-endian and the curve's size, in XML, CMS and certificates
  alike. Reversing all of it gives RFC 4491's s‖r big-endian form (Russian GOST certificates).

One speed change is made to ``gostcrypto``: its modular inverse is a recursive extended Euclid
(two thirds of a signature's time, and ~600 frames deep for 512-bit numbers); Python's
``pow(x, -1, n)`` computes the same inverse. The known-answer tests in tests/test_gost.py pin
the result to RFC 7091's vectors and to real Kalkan signatures.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from gostcrypto import gosthash as _gosthash
from gostcrypto import gostsignature as _gostsignature
from gostcrypto.gostsignature import gost_34_10_2012 as _gost_34_10_2012

from gateway.errors import IdentityError, SignatureError

__all__ = [
    "GOST_2015_256",
    "GOST_2015_512",
    "GostParams",
    "GostPrivateKey",
    "GostPublicKey",
    "certificate_public_key",
    "find_params",
    "generate_private_key",
    "is_gost_certificate",
    "is_gost_private_key_info",
    "load_private_key_info",
    "public_key_info",
    "sign_certificate_tbs",
    "streebog",
    "verify_certificate_signature",
]

gosthash: Any = _gosthash
gostsignature: Any = _gostsignature

KZ_GOST_ARC: Final = "1.2.398.3.10."
"""Every Kazakh GOST OID (keys, parameters, hashes, signatures) lives under this arc."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GostParams:
    """One GOST 34.10-2015 key type: its curve, its digest and the OIDs that name them."""

    name: str
    """Our key type name, as suites and messages use it ("gost2015-512")."""
    bits: int
    curve: str
    """``gostcrypto``'s name of the curve parameter set (RFC 7836 / R 1323565.1.024-2019)."""
    key_oid: str
    """SubjectPublicKeyInfo / PKCS#8 algorithm."""
    param_oid: str
    """Curve parameter set, first element of the key algorithm's parameters."""
    hash_oid: str
    """Digest, second element of the key algorithm's parameters."""
    signature_oid: str
    """Certificate signature algorithm (Streebog of tbsCertificate, signed with this key)."""
    hash_name: str
    """``gostcrypto`` hash name: streebog256 or streebog512."""

    @property
    def size(self) -> int:
        """Bytes per coordinate, per private key, per half of a signature."""
        return self.bits // 8


GOST_2015_512: Final = GostParams(
    name="gost2015-512",
    bits=512,
    curve="id-tc26-gost-3410-12-512-paramSetA",
    key_oid="1.2.398.3.10.1.1.2.2",
    param_oid="1.2.398.3.10.1.1.2.2.1",
    hash_oid="1.2.398.3.10.1.3.3",
    signature_oid="1.2.398.3.10.1.1.2.3.2",
    hash_name="streebog512",
)
"""What every NCA GOST512_* key is (protocol.md §4): checked against real NCA containers,
certificates and Kalkan signatures."""

GOST_2015_256: Final = GostParams(
    name="gost2015-256",
    bits=256,
    curve="id-tc26-gost-3410-2012-256-paramSetA",
    key_oid="1.2.398.3.10.1.1.2.1",
    param_oid="1.2.398.3.10.1.1.2.1.1",
    hash_oid="1.2.398.3.10.1.3.2",
    signature_oid="1.2.398.3.10.1.1.2.3.1",
    hash_name="streebog256",
)
"""The 256-bit variant. Nothing public shows an NCA 256-bit key: the OIDs follow the 512-bit
pattern and the curve is RFC 7836's 256-bit paramSetA (docs/gost.md says why). Round trips and
RFC 7091 vectors test it; interoperability with Kalkan is unproven."""

_PARAMS: Final = (GOST_2015_512, GOST_2015_256)
_LEGACY_KEY_OID: Final = "1.2.398.3.10.1.1.1.1"


def find_params(key_oid: str, param_oid: str | None = None, *, source: str = "") -> GostParams:
    """The parameter set for a key algorithm OID (and curve OID, when the key names one)."""
    for params in _PARAMS:
        if key_oid == params.key_oid and param_oid in (None, params.param_oid):
            return params
    if key_oid == _LEGACY_KEY_OID:
        raise IdentityError(
            "GOST 34.310-2004 keys (GOSTKNCA_*) are not supported: no maintained Python library"
            " implements their GOST 34.311-95 hash (docs/gost.md); use the GOST512_* or RSA key",
            file=source or None,
        )
    curve = f" with curve parameters {param_oid}" if param_oid else ""
    raise IdentityError(f"unsupported GOST key algorithm {key_oid}{curve}", file=source or None)


class _Signer(_gost_34_10_2012.GOST34102012):  # type: ignore[misc]
    """gostcrypto's GOST 34.10-2012 with the modular inverse computed by Python itself."""

    @staticmethod
    def _invert(value: int, n_mod: int) -> int:
        return pow(value, -1, n_mod)


_SIGNERS: dict[str, Any] = {}


def _signer(params: GostParams) -> Any:
    signer = _SIGNERS.get(params.name)
    if signer is None:
        mode = gostsignature.MODE_512 if params.bits == 512 else gostsignature.MODE_256
        curve = gostsignature.CURVES_R_1323565_1_024_2019[params.curve]
        signer = _SIGNERS[params.name] = _Signer(mode, curve)
    return signer


def _valid_point(params: GostParams, point: bytes) -> bool:
    """On the curve and in the group of order q. gostcrypto checks neither, and takes a point
    with a zero coordinate for the base point: a "key" of zeros would accept signatures made
    with private key 1."""
    engine = _signer(params)
    size = params.size
    x = int.from_bytes(point[:size], "little")
    y = int.from_bytes(point[size:], "little")
    p, a, b = engine._p, engine._a, engine._b
    if not (0 < x < p and 0 < y < p) or (y * y - (x * x * x + a * x + b)) % p:
        return False
    if engine._m == engine._q:  # cofactor 1 (512 paramSetA): every curve point has order q
        return True
    try:  # cofactor 4 (256 paramSetA): (q - 1)·P must be -P
        nx, ny = engine._mul_point(engine._q - 1, x, y)
    except (ValueError, ZeroDivisionError):
        return False
    return bool(nx == x and ny == (p - y) % p)


def streebog(data: bytes, bits: int = 512) -> bytes:
    """GOST 34.11-2015 (Streebog) digest, bytes as RFC 6986 implementations return them."""
    return bytes(gosthash.new(f"streebog{bits}", data=data).digest())


def _hash_number(digest: bytes) -> bytearray:
    """gostcrypto reads the digest big-endian; NCA reads it little-endian (protocol.md §4)."""
    return bytearray(digest[::-1])


@dataclass(frozen=True, slots=True)
class GostPublicKey:
    """A GOST public key point as NCA encodes it: X‖Y, each coordinate little-endian."""

    params: GostParams
    point: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.point) != 2 * self.params.size:
            raise SignatureError(
                f"a {self.params.name} public key is {2 * self.params.size} bytes,"
                f" not {len(self.point)}"
            )
        if not _valid_point(self.params, self.point):
            raise SignatureError(f"the {self.params.name} public key is not a valid curve point")

    @property
    def key_type(self) -> str:
        return self.params.name

    def verify_digest(self, digest: bytes, signature: bytes) -> bool:
        """True if ``signature`` (r‖s little-endian) signs ``digest`` (Streebog bytes)."""
        size = self.params.size
        if len(signature) != 2 * size or len(digest) != size:
            return False
        r, s = signature[:size], signature[size:]
        point = self.point
        public = bytearray(point[:size][::-1] + point[size:][::-1])
        try:
            return bool(
                _signer(self.params).verify(
                    public, _hash_number(digest), bytearray(r[::-1] + s[::-1])
                )
            )
        except (ValueError, ZeroDivisionError, gostsignature.GOSTSignatureError):
            return False

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True if ``signature`` signs the Streebog digest of ``data``."""
        return self.verify_digest(streebog(data, self.params.bits), signature)


@dataclass(frozen=True, slots=True)
class GostPrivateKey:
    """A GOST private key: a scalar kept little-endian, as NCA stores it. Never in ``repr``."""

    params: GostParams
    scalar: bytes = field(repr=False)
    _public: list[GostPublicKey] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        value = int.from_bytes(self.scalar, "little")
        order = _signer(self.params)._q
        if len(self.scalar) != self.params.size or not 0 < value < order:
            raise IdentityError(f"not a valid {self.params.name} private key")

    @property
    def key_type(self) -> str:
        return self.params.name

    def public_key(self) -> GostPublicKey:
        """The public point, computed once (a scalar multiplication: tens of milliseconds)."""
        if not self._public:
            point = _signer(self.params).public_key_generate(bytearray(self.scalar[::-1]))
            size = self.params.size
            le = bytes(point[:size])[::-1] + bytes(point[size:])[::-1]
            self._public.append(GostPublicKey(self.params, le))
        return self._public[0]

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a Streebog digest; returns r‖s, each little-endian (Kalkan's layout)."""
        size = self.params.size
        if len(digest) != size:
            raise SignatureError(f"{self.params.name} signs {size}-byte digests, not {len(digest)}")
        raw = bytes(_signer(self.params).sign(bytearray(self.scalar[::-1]), _hash_number(digest)))
        return raw[:size][::-1] + raw[size:][::-1]

    def sign(self, data: bytes) -> bytes:
        """Sign the Streebog digest of ``data``."""
        return self.sign_digest(streebog(data, self.params.bits))

    def private_key_info(self) -> bytes:
        """Unencrypted PKCS#8 PrivateKeyInfo (DER) in NCA's layout."""
        info = _PrivateKeyInfo(
            {
                "version": 0,
                "algorithm": {
                    "algorithm": self.params.key_oid,
                    "parameters": _key_parameters(self.params),
                },
                "private_key": asn1_core.OctetString(self.scalar).dump(),
            }
        )
        return bytes(info.dump())

    def public_key_info(self) -> bytes:
        """SubjectPublicKeyInfo (DER) for a certificate of this key."""
        return public_key_info(self.public_key())


def generate_private_key(params: GostParams = GOST_2015_512) -> GostPrivateKey:
    """A new random key (os.urandom, rejection-sampled below the group order)."""
    order = _signer(params)._q
    while True:
        value = int.from_bytes(os.urandom(params.size), "little")
        if 0 < value < order:
            return GostPrivateKey(params, value.to_bytes(params.size, "little"))


# --- ASN.1 structures --------------------------------------------------------------------


class _KeyParameters(asn1_core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("curve", asn1_core.ObjectIdentifier),
        ("digest", asn1_core.ObjectIdentifier, {"optional": True}),
    ]


class _Algorithm(asn1_core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("algorithm", asn1_core.ObjectIdentifier),
        ("parameters", asn1_core.Any, {"optional": True}),
    ]


class _PrivateKeyInfo(asn1_core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("version", asn1_core.Integer),
        ("algorithm", _Algorithm),
        ("private_key", asn1_core.OctetString),
        ("attributes", asn1_core.Any, {"implicit": 0, "optional": True}),
    ]


class _PublicKeyInfo(asn1_core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("algorithm", _Algorithm),
        ("public_key", asn1_core.OctetBitString),
    ]


def _key_parameters(params: GostParams) -> asn1_core.Any:
    value = _KeyParameters({"curve": params.param_oid, "digest": params.hash_oid})
    return asn1_core.Any.load(value.dump())


def _params_of(algorithm: _Algorithm, source: str) -> GostParams:
    """The parameter set named by a key's AlgorithmIdentifier: curve and digest must both be
    there and belong together (a 512-bit curve with Streebog-256 is not an NCA key)."""
    key_oid = algorithm["algorithm"].dotted
    if not str(key_oid).startswith(KZ_GOST_ARC):
        raise IdentityError(f"not a Kazakh GOST key algorithm: {key_oid}", file=source or None)
    try:
        raw = algorithm["parameters"].dump()
        fields = _KeyParameters.load(raw, strict=True)
        curve, digest = fields["curve"].dotted, fields["digest"].dotted
    except _ASN1_ERRORS as exc:
        find_params(key_oid, None, source=source)  # GOST 2004 and unknown keys: their reason
        raise IdentityError("malformed GOST key parameters", file=source or None) from exc
    params = find_params(key_oid, curve, source=source)
    if digest != params.hash_oid:
        raise IdentityError(
            f"GOST key parameters name digest {digest}, not {params.hash_oid} of {params.name}",
            file=source or None,
        )
    return params


_ASN1_ERRORS: Final = (ValueError, TypeError, KeyError, AttributeError, IndexError)
"""What asn1crypto raises for malformed input (AttributeError: unexpected universal types)."""


def public_key_info(key: GostPublicKey) -> bytes:
    """SubjectPublicKeyInfo DER: the point in an OCTET STRING inside the BIT STRING."""
    info = _PublicKeyInfo(
        {
            "algorithm": {
                "algorithm": key.params.key_oid,
                "parameters": _key_parameters(key.params),
            },
            "public_key": asn1_core.OctetString(key.point).dump(),
        }
    )
    return bytes(info.dump())


def is_gost_private_key_info(data: bytes) -> bool:
    """True for an unencrypted PKCS#8 PrivateKeyInfo whose algorithm is a Kazakh GOST one."""
    try:
        info = _PrivateKeyInfo.load(data, strict=True)
        return str(info["algorithm"]["algorithm"].dotted).startswith(KZ_GOST_ARC)
    except _ASN1_ERRORS:
        return False


def load_private_key_info(data: bytes, *, source: str = "") -> GostPrivateKey:
    """Parse an unencrypted PKCS#8 PrivateKeyInfo holding a GOST key (NCA's layout)."""
    try:
        info = _PrivateKeyInfo.load(data, strict=True)
        params = _params_of(info["algorithm"], source)
        inner = info["private_key"].native
        scalar = asn1_core.OctetString.load(inner, strict=True).native
    except IdentityError:
        raise
    except _ASN1_ERRORS as exc:
        raise IdentityError("damaged GOST private key (PKCS#8)", file=source or None) from exc
    if len(scalar) != params.size:
        raise IdentityError(
            f"a {params.name} private key is {params.size} bytes, not {len(scalar)}",
            file=source or None,
        )
    return GostPrivateKey(params, scalar)


def is_gost_certificate(cert: x509.Certificate) -> bool:
    """True if the certificate's key is a Kazakh GOST key (cryptography cannot load those)."""
    return _spki_oid(cert).startswith(KZ_GOST_ARC)


def _spki_oid(cert: x509.Certificate) -> str:
    try:
        return str(cert.public_key_algorithm_oid.dotted_string)
    except ValueError:
        return ""


def certificate_public_key(cert: x509.Certificate, *, source: str = "") -> GostPublicKey:
    """The GOST public key of a certificate (parsed and validated once per certificate)."""
    try:
        return _public_key_from_tbs(cert.tbs_certificate_bytes)
    except IdentityError as exc:
        exc.file = exc.file or source or None
        raise


@functools.lru_cache(maxsize=256)
def _public_key_from_tbs(tbs_der: bytes) -> GostPublicKey:
    try:
        tbs = asn1_x509.TbsCertificate.load(tbs_der)
        spki = _PublicKeyInfo.load(tbs["subject_public_key_info"].dump(), strict=True)
        params = _params_of(spki["algorithm"], "")
        point = asn1_core.OctetString.load(spki["public_key"].native, strict=True).native
    except IdentityError:
        raise
    except _ASN1_ERRORS as exc:
        raise IdentityError("damaged GOST public key in the certificate") from exc
    try:
        return GostPublicKey(params, point)
    except SignatureError as exc:
        raise IdentityError(exc.message) from exc


def verify_certificate_signature(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True if ``issuer``'s GOST key signed ``cert`` (the same r‖s little-endian layout).

    Results are cached by the exact bytes checked: a chain check costs a GOST verification
    (~0.1 s), and a server sees the same few signer certificates in every message.
    """
    try:
        key = certificate_public_key(issuer)
    except IdentityError:
        return False
    outer = cert.signature_algorithm_oid.dotted_string
    try:
        inner = asn1_x509.TbsCertificate.load(cert.tbs_certificate_bytes)["signature"]
        inner_oid = inner["algorithm"].dotted
    except _ASN1_ERRORS:
        return False
    if outer != key.params.signature_oid or inner_oid != outer:
        return False
    return _signature_ok(key, cert.tbs_certificate_bytes, cert.signature)


@functools.lru_cache(maxsize=256)
def _signature_ok(key: GostPublicKey, data: bytes, signature: bytes) -> bool:
    return key.verify(data, signature)


def sign_certificate_tbs(key: GostPrivateKey, tbs: bytes) -> bytes:
    """Signature BIT STRING contents for a certificate whose tbsCertificate is ``tbs``."""
    return key.sign(tbs)
