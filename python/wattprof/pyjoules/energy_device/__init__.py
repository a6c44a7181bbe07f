"""pyJoules's devices and domains: a domain names one wattprof domain."""


class Domain:
    """One pyJoules domain: RAPL's of a socket, or an NVIDIA GPU's."""

    def __init__(self, device_id: int):
        self.device_id = int(device_id)

    def wattprof_name(self) -> str:  # pragma: no cover - every subclass has one
        raise NotImplementedError

    def __repr__(self):
        return self.wattprof_name()

    def __str__(self):
        return self.wattprof_name()

    def __eq__(self, other):
        return isinstance(other, Domain) and self.wattprof_name() == other.wattprof_name()

    def __hash__(self):
        return hash(self.wattprof_name())

    def get_device_type(self):
        return type(self).DEVICE


class NotAvailableDomain(Exception):
    """A domain this machine does not measure (pyJoules's name for it)."""


class NoSuchDomainError(NotAvailableDomain):
    def __init__(self, domain_name):
        super().__init__(f"domain '{domain_name}' is not measured on this machine "
                         "('wattprof list' shows what is)")
        self.domain_name = domain_name
