"""Maps the design's top-level folders into the one `c2d` namespace.

provider/ becomes c2d.provider, operator/ becomes c2d.operator (never a top-level `operator`,
which would shadow the standard library), and so on. pyproject.toml holds everything else.
"""

from setuptools import find_packages, setup

FOLDERS = {
    "c2d": "c2d",
    "c2d.provider": "provider",
    "c2d.operator": "operator",
    "c2d.pods": "pods",
    "c2d.infra": "infra",
}

packages: list[str] = []
for package, folder in FOLDERS.items():
    packages.append(package)
    packages.extend(f"{package}.{sub}" for sub in find_packages(folder))

# the web pages: the provider's (c2d.provider.webpage), the operator service's (c2d.operator.page), their style
setup(
    packages=packages,
    package_dir=FOLDERS,
    package_data={"c2d": ["web/*"], "c2d.provider": ["web/*"], "c2d.operator": ["web/*"]},
)
