"""What an auditor runs: verify the hash chains and published digests, reconcile the
workflows with the store, read a request's history and export the whole trail."""
