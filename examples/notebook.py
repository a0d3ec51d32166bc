# %% [markdown]
# # geouic in a notebook: DataArray in, DataArray out
#
# Open the sample scene with rioxarray, classify it, name the classes from reference polygons,
# plot the land-cover map with its legend and assess it against independent validation points.
# Run it cell by cell (VS Code, Jupyter with jupytext) or as a script:
# `python examples/notebook.py` (figures and the report go to `out/notebook/`, or to the folder
# in `GEOUIC_EXAMPLE_OUT`).

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files, not windows: delete this line in Jupyter
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import rioxarray  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

import geouic  # noqa: E402

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path("examples").resolve()
DATA = HERE.parent / "data_samples"
OUT = Path(os.environ.get("GEOUIC_EXAMPLE_OUT", HERE.parent / "out" / "notebook"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Open the scene: a (band, y, x) DataArray with its CRS, transform and nodata

# %%
scene = rioxarray.open_rasterio(DATA / "scene.tif")
print(scene.dims, scene.shape, scene.rio.crs, "nodata:", scene.rio.nodata)

# %% [markdown]
# ## Classify: 15 spectral classes (over-clustering, then naming, is the robust workflow)
# `method="uic"` (the default) trains the CNN on the scene and gives cleaner maps; k-means keeps
# this example quick. The result is a (y, x) DataArray on the scene's grid, classes numbered from
# dark to bright, with their names and colours in `attrs`.

# %%
classes = geouic.classify(scene, n_classes=15, method="kmeans", seed=0)
print(classes.dims, classes.rio.crs, "classes:", len(classes.attrs["class_names"]))

# %% [markdown]
# ## Name the classes with the sample legend, by majority vote of the training polygons

# %%
landcover = geouic.assign_schema(classes, reference=DATA / "training.gpkg", field="class",
                                 schema=HERE / "sample_schema.yaml")
print(landcover.attrs["mapping"])

# %% [markdown]
# ## Plot the land-cover map with its legend

# %%
codes = sorted(landcover.attrs["class_names"])
index = np.full(landcover.shape, np.nan)  # nodata (0) stays blank
for i, code in enumerate(codes):
    index[landcover.values == code] = i
cmap = ListedColormap([landcover.attrs["class_colors"][c] for c in codes])
fig, ax = plt.subplots(figsize=(7, 6))
landcover.copy(data=index).plot.imshow(ax=ax, cmap=cmap, vmin=-0.5, vmax=len(codes) - 0.5, add_colorbar=False)
ax.legend(handles=[Patch(color=landcover.attrs["class_colors"][c], label=landcover.attrs["class_names"][c])
                   for c in codes], loc="lower left", fontsize="small")
ax.set_title("Land cover (k-means, 15 classes, named from training polygons)")
ax.set_aspect("equal")
fig.savefig(OUT / "landcover.png", dpi=80, bbox_inches="tight")
plt.close(fig)

# %% [markdown]
# ## Accuracy against independent validation points, area-adjusted (Olofsson et al. 2014)

# %%
report = geouic.accuracy(landcover, reference=DATA / "validation.gpkg", field="ref", area_adjusted=True,
                         output=OUT / "report", overwrite=True, figures=False)
print(report)
print(report.to_dataframe()[["name", "users_accuracy", "producers_accuracy", "area_ha", "area_ha_ci95"]])
(OUT / "report_view.html").write_text(report._repr_html_())  # what a notebook cell shows
