"""The rules of DESIGN §2, one module per family of actors; :mod:`policies.engine`
dispatches to them.

- :mod:`~policies.rules.common`: decision shapes and checks every family shares.
- :mod:`~policies.rules.person`: R1, R2, R6 — the person, their caregivers, the folder.
- :mod:`~policies.rules.professional`: the gate every professional passes, the
  :class:`~policies.rules.professional.RuleContext` the rules below receive, and deposit
  receipts (R5).
- :mod:`~policies.rules.provider`: R3 — Hong Kong providers: sharing consent, role-based
  categories, restricted-access grants, eHR deposits.
- :mod:`~policies.rules.break_glass`: the emergency rule, where the policy enables it.
- :mod:`~policies.rules.cross_border`: R4 — Mainland viewers, sessions, the lookback.
- :mod:`~policies.rules.radiology`: R5 — radiology depositors.
- :mod:`~policies.rules.operator`: R9 — operators manage, never read.

Every rule may only deny until it ends in an explicit allow (deny by default).
"""
