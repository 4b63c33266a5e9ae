using TStitch.Sampling;

namespace TStitch.Sampling.Tests;

public class SwitchScheduleTests
{
    [Fact]
    public void Small_then_large_splits_steps_at_round_r_s()
    {
        var s = SwitchSchedule.SmallThenLarge(0.4, "small", "large");
        Assert.Equal(new[] { 0, 20, 50 }, s.Boundaries(50));
        Assert.Equal("small", s.ModelFor(19, 50));
        Assert.Equal("large", s.ModelFor(20, 50));
        Assert.Equal(20, s.StepsPerModel(50)["small"]);
        Assert.Equal(30, s.StepsPerModel(50)["large"]);
        Assert.Equal(0, SwitchSchedule.SmallThenLarge(0, "small", "large").StepsPerModel(50)["small"]);
        Assert.Equal(50, SwitchSchedule.SmallThenLarge(1, "small", "large").StepsPerModel(50)["small"]);
    }

    [Fact]
    public void Three_models_cover_all_steps_in_order()
    {
        var s = new SwitchSchedule([new("small", 0.3), new("base", 0.3), new("large", 0.4)]);
        Assert.Equal(new[] { 0, 3, 6, 10 }, s.Boundaries(10));
        var models = Enumerable.Range(0, 10).Select(i => s.ModelFor(i, 10)).ToArray();
        Assert.Equal(new[] { "small", "small", "small", "base", "base", "base", "large", "large", "large", "large" }, models);
        // Cumulative rounding: boundaries never exceed the step count and the last stage ends at S.
        Assert.Equal(7, s.Boundaries(7)[^1]);
    }

    [Theory]
    [InlineData(0.5, 0.4, "sum to 1")]
    [InlineData(-0.1, 1.1, "-0.1")]
    [InlineData(double.NaN, 1, "NaN")]
    public void Invalid_fractions_are_rejected_naming_the_value(double a, double b, string expected)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => new SwitchSchedule([new("small", a), new("large", b)]));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Empty_schedules_and_bad_small_fractions_are_rejected()
    {
        Assert.Contains("at least one stage", Assert.ThrowsAny<ArgumentException>(() => new SwitchSchedule([])).Message);
        Assert.Contains("1.5", Assert.ThrowsAny<ArgumentException>(() => SwitchSchedule.SmallThenLarge(1.5, "small", "large")).Message);
        Assert.Contains("empty model id", Assert.ThrowsAny<ArgumentException>(() => new SwitchSchedule([new(" ", 1)])).Message);
    }
}
