"""1-thread GFLOP/s of fd_sgemm and np.dot from the calling thread's CPU time
(time.thread_time), which stays meaningful on a box loaded by other jobs.
  python3 tests_c/bench_gemm_cpu.py          # FD_GEMM_LIB=/tmp/libfdgemm.so
"""
import sys, time, os; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
from threadpoolctl import threadpool_limits
from gemm_ctypes import LIB, sgemm_args
rng=np.random.default_rng(0)
S=[(128,784,512,'C','C'),(128,784,512,'F','F'),(784,128,512,'T','C'),(10000,784,512,'C','C'),(10000,784,512,'F','F'),(128,512,10,'C','C'),(512,128,10,'T','C'),(128,10,512,'C','T')]
def mk(r,c,o):
    if o=='T': return np.ascontiguousarray(rng.standard_normal((c,r)).astype(np.float32)).T
    return rng.standard_normal((r,c)).astype(np.float32,order=o)
with threadpool_limits(1):
  for (m,k,n,oa,ob) in S:
    a=mk(m,k,oa); b=mk(k,n,ob); c=np.empty((m,n),np.float32); args=sgemm_args(a,b,c,nthreads=1)
    reps=max(5,int(2e8/(m*n*k)))
    res=[]
    for f in (lambda: LIB.fd_sgemm(*args), lambda: np.dot(a,b)):
        f(); ts=[]
        for _ in range(5):
            t0=time.thread_time()
            for _ in range(reps): f()
            ts.append((time.thread_time()-t0)/reps)
        res.append(2*m*n*k/min(ts)/1e9)
    print("%5d %4d %4d %s%s  fd %6.1f  np %6.1f  %.2f" % (m,k,n,oa,ob,res[0],res[1],res[0]/res[1]), flush=True)
