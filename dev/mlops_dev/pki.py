"""Certificates and keys for the local control plane.

One self-signed CA signs the API server's serving certificate and a client
certificate per component; a separate RSA key pair signs service-account
tokens. Everything is written once per cluster home and reused by later `up`s.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate's user (CN) and groups (O)."""

    file_stem: str
    user: str
    groups: tuple[str, ...] = ()


CLIENTS = (
    ClientIdentity("admin", "kubernetes-admin", ("system:masters",)),
    ClientIdentity("controller-manager", "system:kube-controller-manager"),
    ClientIdentity("scheduler", "system:kube-scheduler"),
    ClientIdentity(
        "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)
    ),
    # Prometheus on the host discovers pods with this identity (list/watch pods only,
    # bound by dev/prometheus-rbac.yaml).
    ClientIdentity("prometheus", "mlops-dev:prometheus"),
    # The real node's kube-proxy (system:node-proxier); its kubelet's identity names the
    # node (see ensure_pki).
    ClientIdentity("kube-proxy", "system:kube-proxy"),
)
# Bumped whenever the set of certificates changes, so an older home gets a new set.
PKI_VERSION = "3"


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _name(common_name: str, groups: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    return x509.Name(attributes)


def ensure_pki(directory: Path, service_ip: str, node_ip: str, node_name: str) -> None:
    """Create every certificate and key under ``directory`` unless present."""
    directory.mkdir(parents=True, exist_ok=True)
    done = directory / "done"
    if done.exists() and done.read_text().strip() == PKI_VERSION:
        return
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("mlops-dev-ca")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(directory / "ca.key", ca_key)
    _write_cert(directory / "ca.crt", ca_cert)

    def issue(stem: str, subject: x509.Name, usage, sans: list[x509.GeneralName]) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _builder(subject, ca_name, key.public_key()).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        _write_key(directory / f"{stem}.key", key)
        _write_cert(directory / f"{stem}.crt", builder.sign(ca_key, hashes.SHA256()))

    server_sans: list[x509.GeneralName] = [
        x509.DNSName(name)
        for name in (
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        )
    ]
    server_sans += [x509.IPAddress(ipaddress.ip_address(ip))
                    for ip in ("127.0.0.1", service_ip, node_ip)]
    issue("apiserver", _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, server_sans)
    issue("kubelet-server", _name(node_name), ExtendedKeyUsageOID.SERVER_AUTH,
          [x509.DNSName(node_name), x509.IPAddress(ipaddress.ip_address(node_ip))])
    kubelet = ClientIdentity("kubelet", f"system:node:{node_name}", ("system:nodes",))
    for client in (*CLIENTS, kubelet):
        issue(
            client.file_stem,
            _name(client.user, client.groups),
            ExtendedKeyUsageOID.CLIENT_AUTH,
            [],
        )
    _write_key(directory / "sa.key", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    sa_key = serialization.load_pem_private_key((directory / "sa.key").read_bytes(), None)
    (directory / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    done.write_text(PKI_VERSION + "\n")
