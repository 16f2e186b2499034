"""Processing: pending conversions screened, rewarded or rejected, one processor for one conversion or thousands."""
