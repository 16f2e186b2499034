"""Processing: pending conversions screened, rewarded or rejected, one processor for one conversion or thousands.

status.py holds the lifecycle's transitions and writes status changes as a set;
pipeline.py is the processor the job, the sweeper and staff approval call.
"""
