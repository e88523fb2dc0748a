"""A private Dovecot IMAP server for the mailbox tests and benchmarks: its own
configuration in a temporary folder, loopback ports, a passwd-file user and maildirs, a
self-signed certificate the tests trust through MAILBOX_CA_FILE. Debian's `dovecot-imapd` provides
the binary (CI installs it in .ci/run); without it the tests are skipped."""

import grp
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

# Debian installs it in /usr/sbin, which is not on every user's PATH.
DOVECOT = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin")
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
USER = "replies@corp.example.com"
PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway test server's

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
# Plain-text logins on the loopback test server only.
disable_plaintext_auth = no
auth_mechanisms = plain login
# A refused login answers at once: the tests of wrong passwords need no wait.
auth_failure_delay = 0
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = {uid}
last_valid_uid = 0
mail_location = maildir:{root}/mail/%u
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Dovecot:
    root: Path
    imap_port: int
    imaps_port: int
    process: subprocess.Popen

    @property
    def ca_file(self) -> str:
        return str(self.root / "cert.pem")

    def client(self) -> IMAPClient:
        """A logged-in client of the test user (to deliver with APPEND and look)."""
        context = ssl.create_default_context(cafile=self.ca_file)
        client = IMAPClient("127.0.0.1", port=self.imaps_port, ssl_context=context, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> int:
        """Deliver `raw` to `folder`; returns its UID (from the APPENDUID answer). UIDs
        keep growing across tests: a folder emptied between them keeps its UIDNEXT."""
        with self.client() as client:
            answer = client.append(folder, raw)
        return int(answer.split(b"APPENDUID ", 1)[1].split()[1].rstrip(b"]"))

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def start_dovecot() -> Dovecot:
    """Start a fresh server and wait until it accepts connections."""
    assert DOVECOT, "dovecot is not installed"
    # Not under pytest's tmp_path: as root, Dovecot's mail processes run as its own user,
    # which must reach the maildirs.
    root = Path(tempfile.mkdtemp(prefix="soc-dovecot-"))
    root.chmod(0o755)
    for name in ("run", "state", "mail"):
        (root / name).mkdir()
    # dovecot-core depends on openssl, so the command is there wherever Dovecot is.
    subprocess.run(  # noqa: S603 (fixed argv)
        [
            OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem"),
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    if os.getuid() == 0:
        internal, login = "dovecot", "dovenull"
        account = pwd.getpwnam("dovecot")
        shutil.chown(root / "mail", account.pw_uid, account.pw_gid)
    else:
        account = pwd.getpwuid(os.getuid())
        internal = login = account.pw_name

    config = root / "dovecot.conf"
    imap_port, imaps_port = _free_port(), _free_port()
    config.write_text(
        _CONFIG.format(
            root=root,
            internal=internal,
            login=login,
            group=grp.getgrgid(account.pw_gid).gr_name,
            uid=account.pw_uid,
            gid=account.pw_gid,
            imap_port=imap_port,
            imaps_port=imaps_port,
        )
    )
    process = subprocess.Popen(  # noqa: S603 (fixed argv)
        [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    server = Dovecot(root, imap_port, imaps_port, process)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"dovecot exited: {error}{server.log()}")
        try:
            with socket.create_connection(("127.0.0.1", imaps_port), timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("dovecot did not start listening")


def empty_mailbox(server: Dovecot) -> None:
    """Every test starts from an empty INBOX and no other folder."""
    with server.client() as client:
        for _, _, name in client.list_folders():
            if name != "INBOX":
                client.delete_folder(name)
        client.select_folder("INBOX")
        if uids := client.search(["ALL"]):
            client.delete_messages(uids)
            client.expunge()


def folder_flags(server: Dovecot, folder: str = "INBOX") -> list[tuple[bytes, ...]]:
    """The flags of each message in `folder`, oldest first ([] when it does not exist)."""
    with server.client() as client:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        found = client.fetch(client.search(["ALL"]), ["FLAGS"])
        return [found[uid][b"FLAGS"] for uid in sorted(found)]
