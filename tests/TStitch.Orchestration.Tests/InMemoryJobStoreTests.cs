using TStitch.Orchestration;
using TStitch.Tests.Shared;

namespace TStitch.Orchestration.Tests;

public class InMemoryJobStoreTests : JobStoreContract
{
    protected override IJobStore NewStore() => new InMemoryJobStore(Clock);
}
