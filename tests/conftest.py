"""Repository-wide pytest configuration."""


def pytest_configure(config):
    config.addinivalue_line("markers", "gloo: runs real torch.distributed gloo processes")
