using System.Reflection;
using StackExchange.Redis;

namespace TStitch.Cluster.Tests;

/// <summary>
/// A Redis connection that forwards everything to a real one, except that the hash writes a batch sends are
/// dropped: the job store's data-key HSET (its only batched HSET) never reaches Redis while the script that
/// follows it does. Nothing in Redis itself can fail one command of a pipeline and run the next, so the fault
/// is made on the client side of the connection.
/// </summary>
public class DataWriteDroppingRedis : DispatchProxy
{
    private object _target = null!;

    public static IConnectionMultiplexer Wrap(IConnectionMultiplexer redis) => Forward(redis);

    private static T Forward<T>(T target) where T : class
    {
        var proxy = Create<T, DataWriteDroppingRedis>();
        ((DataWriteDroppingRedis)(object)proxy)._target = target;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        var method = targetMethod!;
        if (method.Name == nameof(IBatch.HashSetAsync) && _target is IBatch) return Task.CompletedTask;
        object? result;
        try { result = method.Invoke(_target, args); }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex.InnerException);
            throw;
        }
        return result switch
        {
            IBatch batch => Forward(batch),
            IDatabase db => Forward(db),
            _ => result,
        };
    }
}
