// Runs the calling test file as a worker thread with `job` as its workerData; resolves with the first
// message it posts. Test files that race real threads are their own worker entry points.
import { Worker } from 'node:worker_threads';

export function runSelfAsWorker<T>(fileUrl: string, job: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(fileUrl), { workerData: job });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`worker exit ${code}`)));
  });
}
