"""The prediction log: what model servers record and the monitor keeps (see ``records``)."""
