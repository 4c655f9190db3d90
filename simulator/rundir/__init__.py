"""The results folder: writing it safely (:mod:`.folder`), its manifest and what vbcsim may
delete (:mod:`.manifest`), and the one door for reading a stored run (:mod:`.stored`)."""

from .folder import PARTIAL_SUFFIX, RunFolder, check_out_path, write_json
from .manifest import FORMAT, verify_folder
from .stored import StoredRun, open_run, verify_run

__all__ = ["FORMAT", "PARTIAL_SUFFIX", "RunFolder", "StoredRun", "check_out_path", "open_run",
           "verify_folder", "verify_run", "write_json"]
