using StackExchange.Redis;
using TStitch.Contracts;
using TStitch.Hosting.Errors;

namespace TStitch.Orchestration;

/// <summary>
/// Jobs as Redis hashes ("tstitch:job:{id}"), unfinished ids in the set "tstitch:jobs:unfinished",
/// cross-orchestrator cancel requests as "tstitch:job:{id}:cancel". Every write is a transaction
/// guarded by the fields it depends on (StackExchange.Redis turns the conditions into WATCH + MULTI),
/// so creation is idempotent, claims are exclusive and an orchestrator that lost a job can no longer
/// write it. Finished jobs expire after the configured TTL. Redis failures surface as
/// <see cref="FailureKind.StoreUnavailable"/>.
/// </summary>
public sealed class RedisJobStore(IConnectionMultiplexer redis, TimeSpan finishedTtl, TimeProvider time) : IJobStore
{
    private const string KeyPrefix = "tstitch:job:";
    private const string UnfinishedKey = "tstitch:jobs:unfinished";
    private static readonly RedisValue[] SummaryFields =
        ["spec", "status", "step", "steps", "calls", "error", "failure", "schedule", "resumed_from_step", "owner", "lease_until",
            "created", "updated", "sample_shape"];
    private IDatabase Db => redis.GetDatabase();

    public Task<(JobRecord Job, bool Created)> CreateAsync(JobRecord job,
        CancellationToken cancellationToken = default) => Guarded(async () =>
    {
        var tx = Db.CreateTransaction();
        tx.AddCondition(Condition.KeyNotExists(KeyPrefix + job.Id));
        Write(tx, job);
        _ = tx.HashSetAsync(KeyPrefix + job.Id, [new("owner", job.Owner), new("lease_until", job.LeaseUntil.ToUnixTimeMilliseconds())]);
        if (await tx.ExecuteAsync()) return (job, true);
        return (await GetAsync(job.Id, true,
            cancellationToken) ?? throw new InvalidOperationException($"Job {job.Id} vanished while being created."), false);
    });

    public Task<JobRecord?> GetAsync(string id, bool withData = true, CancellationToken cancellationToken = default) => Guarded(async () =>
    {
        Dictionary<string, RedisValue> h;
        if (withData)
        {
            var entries = await Db.HashGetAllAsync(KeyPrefix + id);
            h = entries.ToDictionary(e => e.Name.ToString(), e => e.Value);
        }
        else
        {
            var values = await Db.HashGetAsync(KeyPrefix + id, SummaryFields);
            h = SummaryFields.Zip(values).Where(p => !p.Second.IsNull).ToDictionary(p => p.First.ToString(), p => p.Second);
        }
        if (!h.ContainsKey("spec")) return null;
        RedisValue Field(string name) => h.TryGetValue(name, out var v) ? v : RedisValue.Null;
        return new JobRecord
        {
            Id = id,
            Spec = JobSpec.FromJson((string)Field("spec")!),
            Status = (JobStatus)(int)Field("status"),
            Step = (int)Field("step"),
            CheckpointStep = (int)Field("checkpoint_step"),
            Steps = (int)Field("steps"),
            Latents = Floats(Field("latents")),
            PreviousX0 = Floats(Field("prev_x0")),
            SampleShape = Field("sample_shape") is { IsNullOrEmpty: false } shape ? ((string)shape!).Split('x').Select(d => int.Parse(d,
                System.Globalization.CultureInfo.InvariantCulture)).ToArray() : null,
            CallsPerPool = ParseCalls(Field("calls")),
            Error = (string?)Field("error") ?? "",
            Failure = (FailureKind)(int)Field("failure"),
            Schedule = (string?)Field("schedule") ?? "",
            ResumedFromStep = (int)Field("resumed_from_step"),
            Owner = (string?)Field("owner") ?? "",
            LeaseUntil = DateTimeOffset.FromUnixTimeMilliseconds((long)Field("lease_until")),
            Created = DateTimeOffset.FromUnixTimeMilliseconds((long)Field("created")),
            Updated = DateTimeOffset.FromUnixTimeMilliseconds((long)Field("updated")),
            Png = Field("png") is { IsNullOrEmpty: false } png ? (byte[])png! : null,
            Samples = Floats(Field("samples")),
        };
    });

    public Task<bool> SaveAsync(JobRecord job, CancellationToken cancellationToken = default) => Guarded(async () =>
    {
        var tx = Db.CreateTransaction();
        tx.AddCondition(Condition.HashEqual(KeyPrefix + job.Id, "owner", job.Owner));
        Write(tx, job);
        return await tx.ExecuteAsync();
    });

    public Task<bool> TryClaimAsync(string id, string owner, DateTimeOffset leaseUntil,
        CancellationToken cancellationToken = default) => Guarded(async () =>
    {
        // Optimistic: read the current claim, then write ours only if claim and status are unchanged.
        var key = KeyPrefix + id;
        var current = await Db.HashGetAsync(key, ["owner", "lease_until", "status"]);
        if (current[2].IsNull || JobRecord.IsFinal((JobStatus)(int)current[2])) return false;
        string currentOwner = (string?)current[0] ?? "";
        long currentLease = current[1].IsNull ? 0 : (long)current[1];
        if (currentOwner != owner && currentLease > time.GetUtcNow().ToUnixTimeMilliseconds()) return false;
        var tx = Db.CreateTransaction();
        tx.AddCondition(Condition.HashEqual(key, "owner", current[0]));
        tx.AddCondition(Condition.HashEqual(key, "lease_until", current[1]));
        tx.AddCondition(Condition.HashEqual(key, "status", current[2]));
        _ = tx.HashSetAsync(key, [new("owner", owner), new("lease_until", leaseUntil.ToUnixTimeMilliseconds())]);
        return await tx.ExecuteAsync();
    });

    public Task ReleaseAsync(string id, string owner, CancellationToken cancellationToken = default) => Guarded(async () =>
    {
        var tx = Db.CreateTransaction();
        tx.AddCondition(Condition.HashEqual(KeyPrefix + id, "owner", owner));
        _ = tx.HashSetAsync(KeyPrefix + id, "lease_until", 0);
        return await tx.ExecuteAsync();
    });

    public Task RequestCancelAsync(string id, CancellationToken cancellationToken = default) =>
        Guarded(() => Db.StringSetAsync(KeyPrefix + id + ":cancel", 1, finishedTtl));

    public Task<bool> IsCancelRequestedAsync(string id, CancellationToken cancellationToken = default) =>
        Guarded(() => Db.KeyExistsAsync(KeyPrefix + id + ":cancel"));

    public Task<IReadOnlyList<string>> UnfinishedAsync(CancellationToken cancellationToken = default) =>
        Guarded(async () => (IReadOnlyList<string>)(await Db.SetMembersAsync(UnfinishedKey)).Select(v => v.ToString()).ToList());

    /// <summary>Everything but the owner, which only claims change; the lease only as a finished job's save ends it.</summary>
    private void Write(ITransaction tx, JobRecord job)
    {
        var key = KeyPrefix + job.Id;
        _ = tx.HashSetAsync(key,
        [
            new("spec", job.Spec.ToJson()),
            new("status", (int)job.Status), new("step", job.Step), new("steps", job.Steps), new("checkpoint_step", job.CheckpointStep),
            new("latents", Bytes(job.Latents)), new("prev_x0", Bytes(job.PreviousX0)),
            new("sample_shape", job.SampleShape is null ? "" : string.Join('x', job.SampleShape)),
            new("calls", string.Join(";", job.CallsPerPool.Select(kv => $"{kv.Key}={kv.Value}"))),
            new("error", job.Error), new("failure", (int)job.Failure), new("schedule", job.Schedule),
            new("resumed_from_step", job.ResumedFromStep),
            new("created", job.Created.ToUnixTimeMilliseconds()), new("updated", job.Updated.ToUnixTimeMilliseconds()),
            new("png", job.Png ?? []), new("samples", Bytes(job.Samples)),
        ]);
        if (job.IsFinished)
        {
            _ = tx.SetRemoveAsync(UnfinishedKey, job.Id);
            _ = tx.HashSetAsync(key, "lease_until", 0); // a finished job has no runner: its lease ends with it
            _ = tx.KeyExpireAsync(key, finishedTtl);
        }
        else
        {
            _ = tx.SetAddAsync(UnfinishedKey, job.Id);
            // A resumable job requeued by a resubmit had the finished TTL: it must not expire while it runs again.
            _ = tx.KeyPersistAsync(key);
        }
    }

    /// <summary>Redis being unreachable is the store's failure, reported as such (not as a client-library diagnostic).</summary>
    private static async Task<T> Guarded<T>(Func<Task<T>> call)
    {
        try { return await call(); }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
        {
            throw new ServiceFailureException(FailureKind.StoreUnavailable, $"The job store (Redis) is unreachable: {ex.GetType().Name}.",
                ex);
        }
        catch (RedisServerException ex) when (IsTransient(ex) || IsAuthenticationError(ex))
        {
            // A Redis that just restarted answers LOADING while it reads its AOF; one whose password
            // changed answers NOAUTH/WRONGPASS: the store is unavailable, not the request at fault.
            throw new ServiceFailureException(FailureKind.StoreUnavailable,
                $"The job store (Redis) is unavailable: {ex.Message.Split(' ')[0]}.", ex);
        }
    }

    /// <summary>Redis refused our credentials (wrong password or user, or none given).</summary>
    public static bool IsAuthenticationError(RedisServerException ex) =>
        ex.Message.StartsWith("WRONGPASS", StringComparison.Ordinal) || ex.Message.StartsWith("NOAUTH", StringComparison.Ordinal);

    /// <summary>Redis is (re)starting or failing over: the same command succeeds shortly.</summary>
    private static bool IsTransient(RedisServerException ex) =>
        ex.Message.StartsWith("LOADING", StringComparison.Ordinal) || ex.Message.StartsWith("MASTERDOWN", StringComparison.Ordinal)
        || ex.Message.StartsWith("READONLY", StringComparison.Ordinal);

    private static byte[] Bytes(float[]? values) => values is null ? [] : TensorMessages.ToBytes(values);

    private static float[]? Floats(RedisValue value) => value.IsNullOrEmpty ? null : TensorMessages.FromBytes((byte[])value!);

    private static Dictionary<string, int> ParseCalls(RedisValue value) =>
        value.IsNullOrEmpty ? new() : ((string)value!).Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=')).ToDictionary(p => p[0], p => int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
}
