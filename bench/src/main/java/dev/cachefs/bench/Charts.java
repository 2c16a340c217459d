package dev.cachefs.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;

/** One bar chart (PNG) per workload: the median of each system. */
final class Charts {
    private Charts() {}

    static void write(Path out, Map<String, Map<String, List<Double>>> results, List<Bench.Workload> workloads,
                      List<String> systems) throws IOException {
        System.setProperty("java.awt.headless", "true");
        Path dir = Files.createDirectories(out.resolve("charts"));
        for (Bench.Workload w : workloads) {
            Map<String, List<Double>> r = results.get(w.name());
            if (r == null) {
                continue;
            }
            DefaultCategoryDataset data = new DefaultCategoryDataset();
            for (String s : systems) {
                if (r.containsKey(s)) {
                    double v = Bench.median(r.get(s));
                    if (!Double.isNaN(v)) {
                        data.addValue(v, w.unit(), s);
                    }
                }
            }
            JFreeChart chart = ChartFactory.createBarChart(w.name() + (w.higherIsBetter() ? " (higher is better)" : " (lower is better)"),
                    "", w.unit(), data, PlotOrientation.HORIZONTAL, false, false, false);
            ChartUtils.saveChartAsPNG(dir.resolve(w.name() + ".png").toFile(), chart, 900, 420);
        }
    }
}
