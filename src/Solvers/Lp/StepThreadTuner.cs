using System.Diagnostics;

namespace Saliency.Solvers.Lp;

/// <summary>
/// Chooses, window by window, between one thread and row blocks for the PDHG steps of one LP by timing both: the split
/// step pays on idle cores (≈ 2× per step) and loses when the other core is busy (time-slicing turns the per-step join
/// into a wait for a descheduled thread). The row-blocked step gives the same iterates for every block count, so a
/// choice made on timings changes the speed only, never the result.
/// </summary>
/// <remarks>
/// Each window of <see cref="Window"/> steps runs in one mode and its time per step updates that mode's running
/// estimate (halfway toward the new sample); the next window takes the faster mode, except one window in
/// <see cref="ExploreEvery"/>, which re-times the other one (the load changes). Each re-timing that confirms the choice
/// doubles that interval (up to <see cref="ExploreAtMost"/>), a flip resets it, so a mode that stays worse (the split
/// step under load can be several times slower) costs at most 1/<see cref="ExploreEvery"/> of the windows at its speed,
/// falling to 1/<see cref="ExploreAtMost"/>.
/// </remarks>
internal sealed class StepThreadTuner
{
    /// <summary>Steps per timed window (the driver's check interval, so each window holds one KKT check).</summary>
    public const int Window = 64;

    /// <summary>Windows between re-timings of the mode not in use.</summary>
    public const int ExploreEvery = 16;

    /// <summary>Longest interval between re-timings, in windows.</summary>
    public const int ExploreAtMost = 128;

    private double _oneSeconds = double.NaN, _splitSeconds = double.NaN;
    private long _start;
    private int _steps, _sinceExplore, _interval = ExploreEvery;
    private bool _split, _exploring;

    /// <summary>Blocks for the next step: 1 or <paramref name="candidate"/> (the most the caller allows now).</summary>
    public int Next(int candidate)
    {
        if (candidate <= 1) { _steps = 0; return 1; }
        if (_steps == 0)
        {
            _split = ChooseSplit();
            _start = Stopwatch.GetTimestamp();
        }
        if (++_steps == Window)
        {
            double perStep = Stopwatch.GetElapsedTime(_start).TotalSeconds / (Window - 1);
            ref double estimate = ref _split ? ref _splitSeconds : ref _oneSeconds;
            estimate = double.IsNaN(estimate) ? perStep : 0.5 * (estimate + perStep);
            _steps = 0;
            if (_exploring)
            {
                // The re-timed mode is still the slower one: look again later; it won: switch and look again soon.
                bool stillWorse = _split ? _splitSeconds >= _oneSeconds : _oneSeconds > _splitSeconds;
                _interval = stillWorse ? Math.Min(2 * _interval, ExploreAtMost) : ExploreEvery;
            }
        }
        return _split ? candidate : 1;
    }

    /// <summary>True when the next window should run split (untimed modes first, then the faster, re-timing the other
    /// once per interval).</summary>
    private bool ChooseSplit()
    {
        _exploring = false;
        if (double.IsNaN(_splitSeconds)) return true;
        if (double.IsNaN(_oneSeconds)) return false;
        bool splitFaster = _splitSeconds < _oneSeconds;
        if (++_sinceExplore < _interval) return splitFaster;
        _sinceExplore = 0;
        _exploring = true;
        return !splitFaster;
    }
}
