// Runtime: the OCI runtime (issue 4).
