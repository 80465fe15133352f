"""Use cases joining domain and storage: consent, policy, eligibility, receipts."""
