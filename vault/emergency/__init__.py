"""Emergency access (break-glass), where the policy enables it."""
