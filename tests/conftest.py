"""Shared test setup for the unit tests."""
import urllib.error
import urllib.parse
import urllib.request

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """The tensors in unit tests are tiny: on a busy 2-core machine a second intra-op thread only
    adds waiting (tiny float64 matmuls in gradcheck get 10-100x slower). Restored after each test."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def own_data_folder(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's data folder (~/.cache/dat_edu), and none reaches the
    internet: downloads go to a per-session folder, and only loopback servers answer."""
    monkeypatch.setenv("DAT_EDU_DATA", str(tmp_path_factory.getbasetemp() / "dat_edu_data"))
    real = urllib.request.urlopen

    def loopback_only(url, *args, **kwargs):
        full = url.full_url if isinstance(url, urllib.request.Request) else str(url)
        host = urllib.parse.urlsplit(full).hostname
        if host not in (None, "127.0.0.1", "localhost"):  # None: file:// URLs
            raise urllib.error.URLError(f"tests do not use the internet (asked for {full})")
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", loopback_only)
