using Microsoft.Extensions.Logging;

namespace TStitch.Hosting;

/// <summary>
/// The log scope that puts a job's id on every log line written while serving it (orchestrator and
/// denoisers alike). A message-template scope, so the console prints "JobId:&lt;id&gt;" and structured
/// sinks (JSON console, OTLP logs) get a JobId attribute.
/// </summary>
public static class JobLogScope
{
    public static IDisposable? Begin(ILogger logger, string jobId) =>
        string.IsNullOrEmpty(jobId) ? null : logger.BeginScope("JobId:{JobId}", jobId);
}
