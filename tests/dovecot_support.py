"""A private Dovecot IMAP server for the tests and the IMAP benchmark.

Debian's ``dovecot-imapd``, started as ``dovecot -F -c CONF`` with its own configuration in
a temp dir: loopback only, free ports, any user name with one plain password (a static
passdb: each test takes a fresh user, so a fresh mailbox), Maildirs, a self-signed
certificate (``imaps`` and STARTTLS; trust it with ``SSL_CERT_FILE``), base and state dirs
in the temp dir. The whole server runs as an
unprivileged user (the current one, or ``dovecot``, created by the package, under root as
in CI), so no chroot or privilege drop is needed.

One server offers three capability sets, chosen by the address the client connects to:
``127.0.0.1`` everything (MOVE, UIDPLUS), ``127.0.0.2`` UIDPLUS but no MOVE, ``127.0.0.3``
plain IMAP4rev1 and no TLS (so the copy, flag and expunge path runs, with and without UID
EXPUNGE, and a client requiring STARTTLS meets a server without it).
"""

from __future__ import annotations

import datetime
import grp
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from imap_tools import MailBoxUnencrypted

#: Every user's password: any user name logs in with it and gets its own Maildir.
PASSWORD = "secret"
#: Where each capability set answers (see the module docstring).
FULL, NO_MOVE, BASIC = "127.0.0.1", "127.0.0.2", "127.0.0.3"


def dovecot_binary() -> str | None:
    """The ``dovecot`` executable (``/usr/sbin`` is not on every PATH), or ``None``."""
    found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _self_signed(cert: Path, key: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(FULL))]
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class Dovecot:
    """One private server; :meth:`start`, :meth:`stop` (and start again), :meth:`close`."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        # Not pytest's tmp_path: under root its parents are 0700, closed to `dovecot`.
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.root.chmod(0o755)
        self.account = pwd.getpwuid(os.getuid()).pw_name if os.getuid() else "dovecot"
        self.group = grp.getgrgid(pwd.getpwnam(self.account).pw_gid).gr_name
        self.imap_port = _free_port()
        self.imaps_port = _free_port()
        self.cert = self.root / "cert.pem"
        _self_signed(self.cert, self.root / "key.pem")
        (self.root / "dovecot.conf").write_text(self._config(), encoding="utf-8")
        self._process: subprocess.Popen[bytes] | None = None

    def _config(self) -> str:
        root = self.root
        listeners = f"{FULL}, {NO_MOVE}, {BASIC}"
        return f"""
protocols = imap
listen = {listeners}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {self.account}
default_internal_group = {self.group}
default_login_user = {self.account}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={self.account} gid={self.group} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {listeners}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {FULL}
    port = {self.imaps_port}
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
local {NO_MOVE} {{
  protocol imap {{
    imap_capability = IMAP4rev1 UIDPLUS
  }}
}}
local {BASIC} {{
  ssl = no
  protocol imap {{
    imap_capability = IMAP4rev1
  }}
}}
"""

    def start(self) -> Dovecot:
        """Run the server and wait until it answers; a failure shows its log."""
        shutil.rmtree(self.root / "run", ignore_errors=True)  # a stale master.pid
        subprocess.run(["chown", "-R", f"{self.account}:{self.group}", str(self.root)], check=True)
        as_user = {"user": self.account, "group": self.group, "extra_groups": []}
        self._process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **(as_user if os.getuid() == 0 else {}),  # type: ignore[arg-type]
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.log()}")
            try:
                socket.create_connection((FULL, self.imap_port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not answer in 30 s: {self.log()}")

    def stop(self) -> None:
        """Stop the server (connections are refused until :meth:`start`)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def close(self) -> None:
        """Stop and remove everything."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        """The server's log (and its stderr when it died), for failure messages."""
        path = self.root / "dovecot.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        if self._process is not None and self._process.poll() is not None and self._process.stderr:
            text += self._process.stderr.read().decode(errors="replace")
        return text[-3000:]

    def url(
        self, user: str, *, transport: str = "tls", host: str = FULL, folder: str = "INBOX"
    ) -> str:
        """The IMAP URL of ``user``'s folder (``transport``: tls, starttls, none)."""
        if transport == "tls":
            return f"imaps://{user}@{host}:{self.imaps_port}/{folder}"
        query = "?tls=none" if transport == "none" else ""
        return f"imap://{user}@{host}:{self.imap_port}/{folder}{query}"

    def client(self, user: str, password: str = PASSWORD) -> MailBoxUnencrypted:
        """A logged-in connection for the test's own look (append, list, fetch)."""
        return MailBoxUnencrypted(FULL, self.imap_port, timeout=30).login(
            user, password, initial_folder=None
        )
