"""Scale-out over the same engine and routes: Ray Serve with prefix-affine routing and the prefix store, Triton."""
